"""The embedded AWS (moto) and the one engine behind `pipelines sandbox` and `pipelines rehearse`.

boto3 and moto are imported only here and in `pipelines/aws/`, never on the synth path; the CLI
imports this package inside the `rehearse` command.

- embedded.py     the embedded AWS: fake credentials, clients per account, stand-ins
- changesets.py   moto's change sets patched to behave like CloudFormation's
- serial.py       moto handles one request at a time: deploy's threads share its backends
- resolve.py      intrinsic functions resolved; the CodePipeline declaration in API shape
- declaration.py  that declaration as typed data, parsed and checked once (checks.py: what
                  the rehearsal can interpret)
- interpreter.py  runs it: stages, run orders, QUEUED, rollback; one module per action kind
                  in actions/; execution.py (executions, events), artifacts.py (variables,
                  artifacts), conditions.py (alarm rules), clients.py (roles acted as)
- patching.py     the one helper that swaps moto's internals for the patches above
- steps.py        runner steps: admitted as the invoker would, built-in jobs run in-process
- history.py      what CodePipeline remembers: action executions, stages, waiting approvals
- service.py      CodePipeline's API over the interpreter (event_pattern.py: a push's rule)
- runs.py         the invoker's direct invocations (`pipelines run`) in the sandbox
- server.py       moto's WSGI application with the API in front of it, served on a port
- sandbox.py      synth, serve, stand-ins, deploy (the code of `pipelines deploy`), the engine
- rehearse.py     a client of a sandbox: push, decide approvals through the API, read back
"""
