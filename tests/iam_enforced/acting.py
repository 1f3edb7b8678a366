"""The rehearsal's interpreter, acting as the principals AWS would act as.

`pipelines rehearse` assumes each action's role with the harness's own credentials and makes the
calls of a role-less action (the sources, the approval's topic) with the toolchain account's
credentials. Under IAM enforcement the principal matters, so here, as in AWS:

- CodePipeline acts as the pipeline's role: the ECR and S3 sources, the approval's SNS topic,
  invoking Lambda actions, and assuming each action's and rule's role (deploy roles);
- the invoker Lambda acts as the invoker role and assumes a target's invoke role;
- a runner job acts as its task role (ECS hands it the credentials: the harness assumes it).

Everything else the rehearsal does on its own account (stand-ins, `pipelines deploy`, its checks
that the invoker exists) stays with the harness's credentials.
"""

from __future__ import annotations

from typing import Any

import boto3

from pipelines.rehearsal import interpreter as interpreter_module
from tests.iam_enforced.enforcement import Enforcement

SESSION_NAME = "pipelines-iam-enforced"
# Services CodePipeline calls as the pipeline role for a role-less action or rule.
PIPELINE_SERVICES = frozenset({"ecr", "s3", "sns", "cloudwatch"})


def interpreter_acting_as(
    enforcement: Enforcement, pipeline_role: str, invoker_role: str | None
) -> type:
    """An Interpreter whose calls are made as the principals AWS would use (see the module)."""
    base = interpreter_module.Interpreter

    class ActingInterpreter(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            deploy_roles = {
                a["roleArn"]
                for stage in self.declaration["stages"]
                for a in stage["actions"]
                if a.get("roleArn")
            } | {
                rule["roleArn"]
                for stage in self.declaration["stages"]
                for key in ("onSuccess", "onFailure")
                for condition in stage.get(key, {}).get("conditions", [])
                for rule in condition.get("rules", [])
                if rule.get("roleArn")
            }
            targets = self.runners.targets.values() if self.runners else ()
            # Who assumes each role: None is a service handing out its credentials (the harness).
            self.assumers: dict[str, str | None] = {role: pipeline_role for role in deploy_roles}
            if invoker_role:
                self.assumers.update({t.role: invoker_role for t in targets})
            self.acting_sessions: dict[str, boto3.Session] = {}
            self.acting_clients: dict[tuple[str, str, str], Any] = {}

        def _client(self, service: str, role_arn: str | None, region: str) -> Any:
            if role_arn is None:
                if service not in PIPELINE_SERVICES:
                    return self.clients.client(service, self.account, region)
                role_arn = pipeline_role
            key = (role_arn, service, region)
            if key not in self.acting_clients:
                self.acting_clients[key] = self._acting(role_arn).client(
                    service, region_name=region
                )
            return self.acting_clients[key]

        def _acting(self, role_arn: str) -> boto3.Session:
            if role_arn not in self.acting_sessions:
                assumer = self.assumers.get(role_arn)
                if assumer is None:
                    sts = self.clients.client("sts", self.account, self.region)
                else:
                    sts = self._acting(assumer).client("sts", region_name=self.region)
                credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=SESSION_NAME)[
                    "Credentials"
                ]
                self.acting_sessions[role_arn] = boto3.Session(
                    aws_access_key_id=credentials["AccessKeyId"],
                    aws_secret_access_key=credentials["SecretAccessKey"],
                    aws_session_token=credentials["SessionToken"],
                )
            return self.acting_sessions[role_arn]

        def _run_action(self, execution: Any, stage: Any, action: Any, *rest: Any) -> Any:
            kind = interpreter_module._action_type(action)
            if kind == interpreter_module.LAMBDA_INVOKE:
                # CodePipeline invokes the function as the pipeline role; the rehearsal does not
                # invoke it, so the harness asks the pipeline role's policies.
                function = action["configuration"]["FunctionName"]
                region = action.get("region", self.region)
                arn = (
                    function
                    if function.startswith("arn:")
                    else f"arn:aws:lambda:{region}:{self.account}:function:{function}"
                )
                enforcement.check(
                    pipeline_role, "lambda:InvokeFunction", arn, "CodePipeline invokes it"
                )
                # AWS: a pipeline with Lambda actions needs lambda:ListFunctions on its role
                # (docs/testing-iam.md cites the CodePipeline permissions reference).
                enforcement.check(
                    pipeline_role, "lambda:ListFunctions", "*", "CodePipeline lists functions"
                )
            return super()._run_action(execution, stage, action, *rest)

    return ActingInterpreter
