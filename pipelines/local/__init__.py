"""`pipelines rehearse`: a release run end to end on an embedded AWS (moto), with no account.

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
- rehearse.py     synth, deploy (the code of `pipelines deploy`), push, run, read back
"""
