"""The YAML contract: models, the loader with its file:line errors, the runner and step specs,
the built-in runners and the cross-file rules. Import what you need from its modules
(`pipelines.config.loader.load_project`, `pipelines.config.models.Project`)."""
