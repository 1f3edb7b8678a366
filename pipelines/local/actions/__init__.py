"""The action categories the interpreter runs, one module each.

- context.py        what every action is handed: `ActionRun` (this action of this execution)
                    and `Context` (the interpreter's clients, journal, hooks, allow-list)
- source.py         `Source/AWS/ECR` and `Source/AWS/S3`
- cloudformation.py `Deploy/AWS/CloudFormation`: CREATE_UPDATE, CHANGE_SET_REPLACE/EXECUTE
- approval.py       `Approval/AWS/Manual`
- marker.py         the release marker's `Invoke/AWS/Lambda`: its handler run in-process
- runner.py         deploy-runner steps (`Invoke/AWS/Lambda` on the invoker, CodeBuild)
"""
