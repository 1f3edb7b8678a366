"""The pipeline's roles do what AWS would have them do, each call checked against the role's
policies in the templates before moto serves it (enforcement.py), on every-step deployed as
`pipelines rehearse` deploys it (world.py):

- the deploy role of each environment (`<app>-<env>-deploy`), assumed by the pipeline role, does
  what a CloudFormation deploy action does: reads the Templates artifact from the artifact store
  of the action's region, creates, describes and executes a change set of its service stack that
  passes the CloudFormation role (`<app>-<env>-cfn`) and a new ImageUri;
- the invoker Lambda's handler, running as the invoker role (`<app>-runner-invoker`), runs a
  CodePipeline job in an environment (assuming `<app>-<env>-runner-invoke` there) from its start
  to its result, and a job on the toolchain's own runner cluster, started, read and stopped;
- each can fail: one permission taken out of the role's policy makes the same run fail with
  AccessDenied for exactly that permission.

What this proves and what it does not: docs/testing-iam.md. The CloudFormation role's own
permissions are not exercised (moto's CloudFormation creates resources without acting as the
role it is given); conditions are evaluated only on the keys the harness knows.
"""

from __future__ import annotations

import io
import itertools
import json
import time
import zipfile
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from pipelines import naming
from pipelines.aws.bundle import templates_zip
from pipelines.aws.cloudformation import change_set_type, create_change_set, describe, execute
from pipelines.aws.errors import OperationError
from pipelines.invoker import names
from pipelines.invoker.document import load_document_file
from pipelines.invoker.handler import Runtime, handle_direct, handle_job
from pipelines.invoker.tasks import Started
from tests.iam_enforced.enforcement import Enforcement
from tests.iam_enforced.world import World, connect_as
from tests.invoker.support import Clock, codepipeline_job

pytestmark = [
    pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning"),
    pytest.mark.filterwarnings("ignore:No Moto CloudFormation support"),
]

_digests = itertools.count(1)
# Where CodePipeline keeps an input artifact: <pipeline>/<artifact>/<random key>.
ARTIFACT_KEY = "{pipeline}/Templates/iamEnforc"


def _deploy_environment(
    world: World, env: str, change_set: str, *, fresh: bool = False
) -> list[str]:
    """The Deploy actions of one environment, as its deploy role (assumed again if `fresh`), a
    new image each time; the errors, if any."""
    app, manifest = world.app, world.manifest
    image = manifest.image_uri(f"sha256:{next(_digests):064x}")
    session = world.session(
        naming.deploy_role(app, env), via=naming.pipeline_role(app), fresh=fresh
    )
    cfn_role = world.roles[naming.cloudformation_role(app, env)]
    problems = []
    for entry in manifest.service_stacks(env):
        # The pipeline put the artifact in the store of the action's region; the harness does.
        bucket = manifest.artifact_bucket_in(entry.region)
        key = ARTIFACT_KEY.format(pipeline=manifest.pipeline)
        world.clients.client("s3", manifest.toolchain_account, entry.region).put_object(
            Bucket=bucket, Key=key, Body=templates_zip(manifest)
        )
        cfn = session.client("cloudformation", region_name=entry.region)
        try:
            stored = session.client("s3", region_name=entry.region).get_object(
                Bucket=bucket, Key=key
            )
            with zipfile.ZipFile(io.BytesIO(stored["Body"].read())) as artifact:
                body = artifact.read(entry.file).decode()
            live = describe(cfn, entry.name)
            parameters: list[dict[str, Any]] = [
                {"ParameterKey": naming.IMAGE_URI_PARAMETER, "ParameterValue": image}
            ]
            if live is not None:  # the rest keep their values, as in CodePipeline
                declared = json.loads(body).get("Parameters", {})
                parameters += [
                    {"ParameterKey": k, "UsePreviousValue": True}
                    for k in live.parameters
                    if k != naming.IMAGE_URI_PARAMETER and k in declared
                ]
            created = create_change_set(
                cfn,
                entry.name,
                change_set_type(live),
                change_set,
                template={"TemplateBody": body, "RoleARN": cfn_role},
                parameters=parameters,
                capabilities=tuple(entry.capabilities),
                tags=dict(entry.tags),
                description="a Deploy action, as the deploy role",
            )
        except (ClientError, OperationError) as error:
            problems.append(f"{entry.name}: {error}")
            continue
        assert created is not None, f"{entry.name}: the new ImageUri changes nothing?"
        outcome = execute(cfn, created, lambda stack, event: None)
        if not outcome.ok:
            problems.append(
                f"{entry.name}: {outcome.status}: {'; '.join(map(str, outcome.failures))}"
            )
    return problems


@pytest.mark.slow
def test_every_deploy_role_deploys_its_service_stacks_with_iam_enforced(
    every_step: World,
) -> None:
    world = every_step
    with Enforcement(world.template_roles) as enforcement:
        for env in world.manifest.promotion:
            assert _deploy_environment(world, env, f"release-{env}") == [], env
    enforcement.assert_clean()
    for env in world.manifest.promotion:
        used = {a for r, a in enforcement.allowed() if r == naming.deploy_role(world.app, env)}
        assert {
            "s3:GetObject",
            "cloudformation:DescribeStacks",
            "cloudformation:CreateChangeSet",
            "iam:PassRole",
            "cloudformation:DescribeChangeSet",
            "cloudformation:ExecuteChangeSet",
            "cloudformation:DescribeStackEvents",
        } <= used, env
    pipeline = naming.pipeline_role(world.app)
    assert (pipeline, "sts:AssumeRole") in enforcement.allowed()
    # Each AssumeRole was checked twice: the pipeline role's policy, and the deploy role's trust
    # policy.
    trust = [d for d in enforcement.decisions if d.by.startswith("trust")]
    assert {d.resource.rpartition("/")[2] for d in trust} == {
        naming.deploy_role(world.app, env) for env in world.manifest.promotion
    }


@pytest.mark.parametrize(
    ("role", "permission"),
    [
        ("deploy", "s3:GetObject"),
        ("deploy", "cloudformation:CreateChangeSet"),
        ("deploy", "iam:PassRole"),
        ("deploy", "cloudformation:ExecuteChangeSet"),
        ("pipeline", "sts:AssumeRole"),
    ],
)
def test_a_deploy_without_one_of_its_permissions_is_denied(
    every_step: World, role: str, permission: str
) -> None:
    """The enforcement can fail: each permission taken out of the role's policy (as if the
    template had not granted it) makes the deploy fail with AccessDenied for exactly it."""
    world, env = every_step, "prod-eu"
    name = (
        naming.deploy_role(world.app, env) if role == "deploy" else naming.pipeline_role(world.app)
    )
    with (
        Enforcement(world.template_roles) as enforcement,
        enforcement.without(world.roles[name], permission),
    ):
        try:
            problems = _deploy_environment(
                world, env, "without", fresh=permission == "sts:AssumeRole"
            )
        except ClientError as error:  # the AssumeRole itself
            problems = [str(error)]
    # The deploy fails (each verb words AccessDenied its own way), and what was denied is
    # exactly the permission taken away.
    assert problems, "the deploy succeeded without " + permission
    assert all(permission.partition(":")[2] in p or "AccessDenied" in p for p in problems), problems
    assert {(d.role.rpartition("/")[2], d.action) for d in enforcement.denied()} == {
        (name, permission)
    }


# The invoker ------------------------------------------------------------------------------------


class JobResults:
    """CodePipeline's side of a Lambda action (moto does not implement PutJobSuccessResult or
    PutJobFailureResult): each call's parameters validated against the API model by botocore,
    the invoker role's permission for it checked (as every enforced call), then answered and
    recorded."""

    def __init__(self, region: str, enforcement: Enforcement, role: str) -> None:
        self.client = boto3.client("codepipeline", region_name=region)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.enforcement, self.role, self.region = enforcement, role, region
        events = self.client.meta.events
        events.register("before-parameter-build.codepipeline.*", self.record)
        events.register("before-call.codepipeline.*", self.answer)

    def __getattr__(self, name: str) -> Any:  # the invoker calls it as the client
        return getattr(self.client, name)

    def record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, dict(params)))

    def answer(self, model: Any, **_: Any) -> tuple[Any, dict]:
        # After botocore validated the parameters; before anything is sent.
        params = self.calls[-1][1]
        self.enforcement.check_call(self.role, self.region, "codepipeline", model.name, params)
        return AWSResponse("https://codepipeline", 200, {}, None), {}

    def last(self) -> tuple[str, dict[str, Any]]:
        return self.calls[-1]


_jobs = itertools.count(1)


def _runtime(world: World, enforcement: Enforcement) -> Runtime:
    """The invoker as Lambda runs it: its clients with the invoker role's credentials, and a
    target's with its invoke role's, assumed with them."""
    document = load_document_file(world.templates / names.RUNNERS_FILE)
    role = naming.invoker_role(world.app)
    invoker = world.session(role)  # Lambda hands the function its role's credentials
    region = document.region
    return Runtime(
        document=document,
        ecs=invoker.client("ecs", region_name=region),
        logs=invoker.client("logs", region_name=region),
        codepipeline=JobResults(region, enforcement, world.roles[role]),
        region=region,
        now=Clock(),
        sts=invoker.client("sts", region_name=region),
        cloudformation=invoker.client("cloudformation", region_name=region),
        connect=connect_as(invoker, region),
    )


def _finish(world: World, started: Started, account: str, region: str, cluster: str) -> None:
    """The task printed its outputs and exited 0 (moto runs nothing: the harness says so, with
    its own credentials; moto reports a stopped task's container with exit code 0)."""
    logs = world.clients.client("logs", account, region)
    logs.create_log_stream(logGroupName=started.log_group, logStreamName=started.log_stream)
    logs.put_log_events(
        logGroupName=started.log_group,
        logStreamName=started.log_stream,
        logEvents=[
            {"timestamp": int(time.time() * 1000), "message": "::pipelines-output:: summary=done"}
        ],
    )
    ecs = world.clients.client("ecs", account, region)
    ecs.stop_task(cluster=cluster, task=started.task, reason="the job finished")


def _job(world: World, rt: Runtime, request: dict[str, Any]) -> str:
    """A CodePipeline job of the invoker, its first call to its result; what CodePipeline was
    told at the first call that did not go on (or "succeeded")."""
    document = rt.document
    target = document.targets.get(request.get("environment", ""))
    account, region, cluster = (
        (target.account, target.region, target.cluster)
        if target
        else (world.manifest.toolchain_account, document.region, document.cluster)
    )
    job_id = f"00000000-0000-0000-0000-{next(_jobs):012d}"

    def call(token: str | None) -> tuple[str, dict[str, Any]]:
        handle_job(codepipeline_job(json.dumps(request), token=token, job_id=job_id), rt)
        return rt.codepipeline.last()

    name, answer = call(None)
    if name != "PutJobSuccessResult":
        return f"start: {answer['failureDetails']['message']}"
    started = Started.from_token(answer["continuationToken"])
    assert started.task.split(":")[3:5] == [region, account], started.task
    rt.now.now += 60
    name, answer = call(started.token())
    if name != "PutJobSuccessResult" or "continuationToken" not in answer:
        return f"poll: {answer.get('failureDetails', answer)}"
    _finish(world, started, account, region, cluster)
    name, answer = call(started.token())
    if name != "PutJobSuccessResult":
        return f"result: {answer['failureDetails']['message']}"
    assert answer["outputVariables"]["summary"] == "done"
    return "succeeded"


def _migration(rt: Runtime, env: str) -> dict[str, Any]:
    """A migration of the release image in `env` (a release runner: a new task definition
    revision is registered for the image)."""
    image = f"{rt.document.release_repository}@sha256:{next(_jobs):064x}"
    return {
        "runner": "migrate",
        "script": "migrate",
        "args": [],
        "environment": env,
        "image": image,
    }


@pytest.mark.slow
def test_the_invoker_runs_jobs_in_each_environment_and_on_the_toolchain_as_its_roles(
    every_step: World,
) -> None:
    world = every_step
    with Enforcement(world.template_roles) as enforcement:
        rt = _runtime(world, enforcement)
        for env in rt.document.targets:
            assert _job(world, rt, _migration(rt, env)) == "succeeded", env
        # No environment: the toolchain's own cluster, as the invoker role itself.
        assert _job(world, rt, TOOLCHAIN_JOB) == "succeeded"
        # And as `pipelines run` starts, reads and stops a job there.
        start = handle_direct({"action": "start", **TOOLCHAIN_JOB}, rt)
        assert start["ok"] is True, start
        status = handle_direct({"action": "status", "task": start["task"]}, rt)
        assert status["ok"] is True, status
        assert handle_direct({"action": "stop", "task": start["task"]}, rt) == {"ok": True}
    enforcement.assert_clean()
    invoker, app = naming.invoker_role(world.app), world.app
    assert {(invoker, a) for a in INVOKER_ACTIONS} <= enforcement.allowed()
    for env in rt.document.targets:
        role = naming.runner_invoke_role(app, env)
        assert {(role, a) for a in INVOKE_ACTIONS} <= enforcement.allowed(), env


# What each role was seen to do in the test above (a test that fails lists what it did).
INVOKER_ACTIONS = {
    "sts:AssumeRole",
    "codepipeline:PutJobSuccessResult",
    "cloudformation:DescribeStacks",
    "ecs:ListTasks",
    "ecs:RunTask",
    "iam:PassRole",
    "ecs:DescribeTasks",
    "logs:GetLogEvents",
    "ecs:StopTask",
}
INVOKE_ACTIONS = {
    "cloudformation:DescribeStacks",
    "ecs:ListTasks",
    "ecs:DescribeTaskDefinition",
    "ecs:RegisterTaskDefinition",
    "ecs:RunTask",
    "iam:PassRole",
    "ecs:DescribeTasks",
    "logs:GetLogEvents",
}
TOOLCHAIN_JOB = {
    "runner": "plan",
    "script": "plan",
    "args": ["--stack", "payments-dev-api", "--template", "Templates::payments-dev-api.json"],
}


@pytest.mark.parametrize(
    ("where", "role", "permission"),
    [
        # A migration in prod-eu: the invoker role assumes prod-eu's invoke role.
        ("prod-eu", "invoker", "sts:AssumeRole"),
        ("prod-eu", "invoker", "codepipeline:PutJobSuccessResult"),
        ("prod-eu", "invoke", "cloudformation:DescribeStacks"),
        ("prod-eu", "invoke", "ecs:ListTasks"),
        ("prod-eu", "invoke", "ecs:RegisterTaskDefinition"),
        ("prod-eu", "invoke", "ecs:RunTask"),
        ("prod-eu", "invoke", "iam:PassRole"),
        ("prod-eu", "invoke", "ecs:DescribeTasks"),
        ("prod-eu", "invoke", "logs:GetLogEvents"),
        # A job on the toolchain's cluster: the invoker role itself.
        ("toolchain", "invoker", "cloudformation:DescribeStacks"),
        ("toolchain", "invoker", "ecs:ListTasks"),
        ("toolchain", "invoker", "ecs:RunTask"),
        ("toolchain", "invoker", "iam:PassRole"),
        ("toolchain", "invoker", "ecs:DescribeTasks"),
        ("toolchain", "invoker", "logs:GetLogEvents"),
    ],
)
def test_a_job_without_one_of_its_permissions_is_denied(
    every_step: World, where: str, role: str, permission: str
) -> None:
    world = every_step
    name = (
        naming.invoker_role(world.app)
        if role == "invoker"
        else naming.runner_invoke_role(world.app, where)
    )
    with (
        Enforcement(world.template_roles) as enforcement,
        enforcement.without(world.roles[name], permission),
    ):
        rt = _runtime(world, enforcement)
        outcome = _job(world, rt, TOOLCHAIN_JOB if where == "toolchain" else _migration(rt, where))
    assert outcome != "succeeded"
    assert "AccessDenied" in outcome or "not authorized" in outcome, outcome
    assert {(d.role.rpartition("/")[2], d.action) for d in enforcement.denied()} == {
        (name, permission)
    }
