from pipelines.process import entry

entry()
