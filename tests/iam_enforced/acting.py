"""The rehearsal's interpreter, acting as the principals AWS would act as.

`pipelines rehearse` assumes each action's role with the harness's own credentials and makes the
calls of a role-less action (the sources, the approval's topic) with the toolchain account's
credentials. Under IAM enforcement the principal matters, so here, as in AWS:

- CodePipeline acts as the pipeline's role: the ECR and S3 sources, the approval's SNS topic,
  the alarm rule's read, invoking Lambda actions, and assuming each action's and rule's role
  (the deploy roles);
- the invoker Lambda acts as the invoker role and assumes a target's invoke role with it;
- a runner job acts as its task role, and the release marker as its function's role (ECS and
  Lambda hand out the credentials: the harness assumes the role).

The interpreter makes every client it acts with through its public `client_for` parameter
(pipelines/local/interpreter.py); `interpreter_acting_as` passes `ActingClients`, whose clients
carry the enforcement's hook (enforcement.enforce). Everything else the rehearsal does on its own
account (stand-ins, `pipelines deploy`, its look-ups of the Lambda functions) stays with the
harness's credentials, unchecked.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import boto3

from pipelines.local.interpreter import Interpreter
from tests.iam_enforced.enforcement import Enforcement, enforce

SESSION_NAME = "pipelines-iam-enforced"
# Services CodePipeline calls as the pipeline role for a role-less action or rule.
PIPELINE_SERVICES = frozenset({"ecr", "s3", "sns", "cloudwatch"})


class ActingClients:
    """`client_for` of the Interpreter: the client of `service` in `region` as the principal AWS
    would use for a call the interpreter makes as `role_arn` (None: CodePipeline itself)."""

    def __init__(
        self,
        enforcement: Enforcement,
        clients: Any,
        account: str,
        region: str,
        assumers: dict[str, str | None],
        pipeline_role: str,
    ) -> None:
        self.enforcement, self.clients = enforcement, clients
        self.account, self.region = account, region
        self.assumers = assumers  # role -> the role that assumes it (None: the harness)
        self.pipeline_role = pipeline_role
        self.sessions: dict[str, boto3.Session] = {}
        self.made: dict[tuple[str, str, str], Any] = {}

    def __call__(self, service: str, role_arn: str | None, region: str) -> Any:
        if role_arn is None:
            if service == "lambda":
                return self.lambda_lookups(region)
            if service not in PIPELINE_SERVICES:
                return self.clients.client(service, self.account, region)
            role_arn = self.pipeline_role
        key = (role_arn, service, region)
        if key not in self.made:
            client = self.session(role_arn).client(service, region_name=region)
            self.made[key] = enforce(client, role_arn)
        return self.made[key]

    def session(self, role_arn: str) -> boto3.Session:
        if role_arn not in self.sessions:
            assumer = self.assumers.get(role_arn)
            if assumer is None:
                sts = self.clients.client("sts", self.account, self.region)
            else:
                sts = self(  # the assumer's own STS client: its AssumeRole is checked
                    "sts", assumer, self.region
                )
            credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=SESSION_NAME)[
                "Credentials"
            ]
            self.sessions[role_arn] = boto3.Session(
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
            )
        return self.sessions[role_arn]

    def lambda_lookups(self, region: str) -> Any:
        """The harness's Lambda client, with which the interpreter looks up the function of a
        Lambda action (the invoker's, the release marker's) before it runs its handler: where
        CodePipeline invokes the function as the pipeline role, whose permissions for that
        (lambda:InvokeFunction on it, lambda:ListFunctions) are asked here, on each look-up."""
        client = self.clients.client("lambda", self.account, region)

        def invoked(params: dict[str, Any], **_: Any) -> None:
            function = params["FunctionName"]
            arn = (
                function
                if function.startswith("arn:")
                else f"arn:aws:lambda:{region}:{self.account}:function:{function}"
            )
            self.enforcement.check(
                self.pipeline_role, "lambda:InvokeFunction", arn, "CodePipeline invokes it"
            )
            # AWS: a pipeline with Lambda actions needs lambda:ListFunctions on its role
            # (docs/testing-iam.md cites the CodePipeline permissions reference).
            self.enforcement.check(
                self.pipeline_role, "lambda:ListFunctions", "*", "CodePipeline lists functions"
            )

        client.meta.events.register(
            "before-parameter-build.lambda.GetFunction", invoked, unique_id="iam-enforced-invoke"
        )
        return client


def interpreter_acting_as(
    enforcement: Enforcement, pipeline_role: str, invoker_role: str | None
) -> Callable[..., Interpreter]:
    """Makes an Interpreter as `rehearse` does, whose calls are made as the principals AWS would
    use (see the module): a stand-in for the name `Interpreter` the rehearsal constructs."""
    signature = inspect.signature(Interpreter)

    def make(*args: Any, **kwargs: Any) -> Interpreter:
        given = signature.bind(*args, **kwargs).arguments
        declaration, runners = given["declaration"], given.get("runners")
        stages = declaration["stages"]
        deploy_roles = {
            a["roleArn"] for stage in stages for a in stage["actions"] if "roleArn" in a
        }
        deploy_roles |= {
            rule["roleArn"]
            for stage in stages
            for key in ("onSuccess", "onFailure")
            for condition in stage.get(key, {}).get("conditions", [])
            for rule in condition.get("rules", [])
            if "roleArn" in rule
        }
        assumers: dict[str, str | None] = dict.fromkeys(deploy_roles, pipeline_role)
        if invoker_role and runners is not None:
            assumers |= {t.role: invoker_role for t in runners.targets.values()}
        enforcement.roles.clients = given["clients"]  # the deployed stacks resolve the policies
        acting = ActingClients(
            enforcement,
            given["clients"],
            given["account"],
            given["region"],
            assumers,
            pipeline_role,
        )
        return Interpreter(**given, client_for=acting)

    return make
