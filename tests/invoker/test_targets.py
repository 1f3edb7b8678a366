"""The invoker with runners.json `targets`: an environment's jobs run in its own account (moto,
reached through STS), on its cluster, in the security group its runner stack outputs, logging to
its log group; the release image pinned by digest as a new task definition revision; input
artifacts handed over as presigned links."""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.stub import ANY
from moto.ecs.models import ecs_backends

from pipelines import naming
from pipelines.invoker import names
from pipelines.invoker.allowlist import Admitted
from pipelines.invoker.document import Network, Target
from pipelines.invoker.handler import (
    Runtime,
    TargetClients,
    assume_target,
    handle_direct,
    handle_job,
)
from pipelines.invoker.tasks import (
    MAX_OVERRIDES,
    REGISTER_FIELDS,
    Clients,
    InvokerError,
    Place,
    Started,
    start_task,
)
from tests.invoker.fixture_runners import RELEASE_IMAGE, RELEASE_REPOSITORY
from tests.invoker.support import (
    JOB_ID,
    Clock,
    Pipeline,
    codepipeline_job,
    document,
    moto_with_tasks_held,
    start_job,
)

REGION = "eu-west-1"  # the toolchain's: the invoker, the pipeline, the artifact bucket
TARGET_REGION = "eu-west-2"
PROD = "333333333333"
STAGING = "444444444444"  # an account where nobody deployed the runner stack yet
GROUP = "/pipelines/shop/prod/runner"
NOW_MS = int(time.time() * 1000)
MIGRATE = {
    "runner": "migrate",
    "script": "migrate",
    "args": ["--database", "default"],
    "image": RELEASE_IMAGE,
    "environment": "prod",
}
PLAN = {
    "runner": "cloudformation-planner",
    "script": "plan",
    "args": ["--stack", "shop-prod-web", "--template=Templates::shop-prod-web.json"],
    "environment": "prod",
}
CREDENTIALS = {
    "accessKeyId": "ASIAJOBARTIFACTS0001",
    "secretAccessKey": "job-secret",
    "sessionToken": "job-session-token",
}
RUNNER_STACK = {
    "Parameters": {"Vpc": {"Type": "String"}},
    "Resources": {
        "Group": {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {"GroupDescription": "runner tasks", "VpcId": {"Ref": "Vpc"}},
        }
    },
    "Outputs": {
        naming.RUNNER_SECURITY_GROUP_OUTPUT: {"Value": {"Fn::GetAtt": ["Group", "GroupId"]}}
    },
}
# What the migrate family of the prod runner stack holds: everything a release revision copies.
MIGRATE_DEFINITION: dict[str, Any] = {
    "family": "shop-prod-runner-migrate",
    "taskRoleArn": f"arn:aws:iam::{PROD}:role/shop-prod-runner-migrate",
    "executionRoleArn": f"arn:aws:iam::{PROD}:role/shop-prod-runner-execution",
    "networkMode": "awsvpc",
    "requiresCompatibilities": ["FARGATE"],
    "cpu": "1024",
    "memory": "4096",
    "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
    "ephemeralStorage": {"sizeInGiB": 30},
    "volumes": [{"name": "scratch"}],
    "containerDefinitions": [
        {
            "name": names.CONTAINER,
            "image": "placeholder:release",
            "essential": True,
            "memory": 3584,
            "environment": [{"name": "DJANGO_SETTINGS_MODULE", "value": "shop.settings"}],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": GROUP,
                    "awslogs-region": TARGET_REGION,
                    "awslogs-stream-prefix": "migrate",
                },
            },
        },
        {"name": "proxy", "image": "public.ecr.aws/proxy:1", "essential": False, "memory": 512},
    ],
}


@dataclasses.dataclass(frozen=True)
class World:
    subnet: str
    security_group: str
    targets: dict[str, Target]


_counter = itertools.count()


_sessions: dict[str, boto3.session.Session] = {}


def _session(account: str) -> boto3.session.Session:
    """A session acting in `account`, as moto maps assumed-role credentials to their account."""
    if account in _sessions:
        return _sessions[account]
    credentials = boto3.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/test-setup", RoleSessionName="test"
    )["Credentials"]
    _sessions[account] = boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=TARGET_REGION,
    )
    return _sessions[account]


@pytest.fixture(scope="module")
def aws():
    with moto_with_tasks_held(REGION):
        try:
            yield _world()
        finally:
            _sessions.clear()
            _clients.clear()


def _world() -> World:
    prod = _session(PROD)
    ec2 = prod.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
    cfn = prod.client("cloudformation")
    parameters = [{"ParameterKey": "Vpc", "ParameterValue": vpc}]
    cfn.create_stack(
        StackName="shop-prod-runner", TemplateBody=json.dumps(RUNNER_STACK), Parameters=parameters
    )
    hollow = {**RUNNER_STACK, "Outputs": {}}
    del hollow["Outputs"]
    cfn.create_stack(
        StackName="shop-prod-hollow", TemplateBody=json.dumps(hollow), Parameters=parameters
    )
    (output,) = cfn.describe_stacks(StackName="shop-prod-runner")["Stacks"][0]["Outputs"]
    ecs = prod.client("ecs")
    ecs.register_task_definition(**MIGRATE_DEFINITION)
    for runner in ("echo", "cloudformation-planner"):
        ecs.register_task_definition(
            family=naming.env_runner_task_family("shop", "prod", runner),
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[{"name": names.CONTAINER, "image": "i", "memory": 512}],
        )
    prod.client("logs").create_log_group(logGroupName=GROUP)
    targets = {
        "prod": Target.named("shop", "prod", account=PROD, region=TARGET_REGION, subnets=(subnet,)),
        "staging": Target.named(
            "shop", "staging", account=STAGING, region=TARGET_REGION, subnets=("subnet-0abc",)
        ),
    }
    return World(subnet=subnet, security_group=output["OutputValue"], targets=targets)


class Connections:
    """The invoker's own assume_target, recording what it assumed and what it ran."""

    def __init__(self, sts: Any) -> None:
        self.sts = sts
        self.assumed: list[dict[str, Any]] = []
        self.run_task: list[dict[str, Any]] = []
        sts.meta.events.register("provide-client-params.sts.AssumeRole", self._assumed)

    def _assumed(self, params: dict[str, Any], **_: Any) -> None:
        self.assumed.append(dict(params))

    def _ran(self, params: dict[str, Any], **_: Any) -> None:
        self.run_task.append(dict(params))

    def __call__(self, target: Target) -> TargetClients:
        clients = assume_target(target, self.sts)
        clients.ecs.meta.events.register("provide-client-params.ecs.RunTask", self._ran)
        return clients


@pytest.fixture
def rt(aws: World) -> Runtime:
    """A runtime whose prod target has a cluster of its own for this test."""
    cluster = f"shop-prod-runner-{next(_counter)}"
    _session(PROD).client("ecs").create_cluster(clusterName=cluster)
    targets = {**aws.targets, "prod": dataclasses.replace(aws.targets["prod"], cluster=cluster)}
    sts = boto3.client("sts", region_name=REGION)
    return Runtime(
        document=dataclasses.replace(document(), targets=targets),
        ecs=boto3.client("ecs", region_name=REGION),
        logs=boto3.client("logs", region_name=REGION),
        codepipeline=Pipeline(REGION),
        region=REGION,
        now=Clock(),
        sts=sts,
        connect=Connections(sts),
    )


def _cluster(rt: Runtime) -> str:
    return rt.document.targets["prod"].cluster


_clients: dict[str, Any] = {}


def _ecs() -> Any:
    if "ecs" not in _clients:
        _clients["ecs"] = _session(PROD).client("ecs")
    return _clients["ecs"]


def _tasks(rt: Runtime) -> list[str]:
    return _ecs().list_tasks(cluster=_cluster(rt))["taskArns"]


def _job(
    params: Any,
    token: str | None = None,
    credentials: dict | None = CREDENTIALS,
    job_id: str = JOB_ID,
) -> dict[str, Any]:
    return codepipeline_job(
        json.dumps(params),
        token=token,
        artifacts=("Templates", "Source"),
        credentials=credentials,
        job_id=job_id,
    )


def _start(rt: Runtime, params: dict = MIGRATE, job_id: str = JOB_ID) -> Started:
    return start_job(rt, _job(params, job_id=job_id))


def _fails(rt: Runtime, job: dict) -> dict[str, Any]:
    rt.codepipeline.expect("put_job_failure_result")
    handle_job(job, rt)
    name, call = rt.codepipeline.only_call()
    assert name == "PutJobFailureResult", call
    return call["failureDetails"]


def _set_task(rt: Runtime, arn: str, status: str, exit_code: int | None = 0) -> None:
    task = ecs_backends[PROD][TARGET_REGION].tasks[_cluster(rt)][arn]
    task.status = status
    task.containers[0].last_status = status
    task.containers[0].exitCode = exit_code


def _variables(run_task: dict[str, Any]) -> dict[str, str]:
    (container,) = run_task["overrides"]["containerOverrides"]
    return {v["name"]: v["value"] for v in container["environment"]}


# Where a target's job runs


def test_a_target_job_runs_in_the_environments_account(rt: Runtime, aws: World) -> None:
    started = _start(rt)
    assert started.target == "prod"
    assert started.task.startswith(f"arn:aws:ecs:{TARGET_REGION}:{PROD}:task/{_cluster(rt)}/")
    assert started.log_group == GROUP
    assert rt.connect.assumed == [
        {
            "RoleArn": f"arn:aws:iam::{PROD}:role/shop-prod-runner-invoke",
            "RoleSessionName": "pipelines-invoker",
            "DurationSeconds": 900,
        }
    ]
    (request,) = rt.connect.run_task
    assert request["cluster"] == _cluster(rt)
    assert request["networkConfiguration"] == {
        "awsvpcConfiguration": {
            "subnets": [aws.subnet],
            "securityGroups": [aws.security_group],  # the runner stack's output
            "assignPublicIp": "DISABLED",
        }
    }
    assert request["taskDefinition"].startswith(
        f"arn:aws:ecs:{TARGET_REGION}:{PROD}:task-definition/shop-prod-runner-migrate:"
    )
    assert _variables(request) == {
        names.ENVIRONMENT_VARIABLE: "prod",
        names.RUNNER_VARIABLE: "migrate",
        names.SCRIPT_VARIABLE: "migrate",
        # migrate names no artifact: it gets no links
    }
    assert (request["startedBy"], request["clientToken"]) == (
        f"{names.STARTED_BY}/{JOB_ID}",
        JOB_ID,
    )
    (task,) = _ecs().describe_tasks(cluster=_cluster(rt), tasks=[started.task])["tasks"]
    assert task["startedBy"] == f"{names.STARTED_BY}/{JOB_ID}"
    assert task["taskDefinitionArn"] == request["taskDefinition"]


def test_polls_follow_the_task_in_its_account_to_success(rt: Runtime) -> None:
    started = _start(rt)
    rt.now.now += 60
    rt.codepipeline.expect("put_job_success_result")
    handle_job(_job(MIGRATE, token=started.token()), rt)
    _, call = rt.codepipeline.only_call()
    assert Started.from_token(call["continuationToken"]) == started  # the same target
    logs = _session(PROD).client("logs")
    logs.create_log_stream(logGroupName=GROUP, logStreamName=started.log_stream)
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName=started.log_stream,
        logEvents=[
            {"timestamp": NOW_MS, "message": "Applying shop.0042... OK"},
            {"timestamp": NOW_MS + 1, "message": "::pipelines-output:: summary=1 migration"},
        ],
    )
    _set_task(rt, started.task, "STOPPED", exit_code=0)
    rt.codepipeline.expect("put_job_success_result")
    handle_job(_job(MIGRATE, token=started.token()), rt)
    _, call = rt.codepipeline.only_call()
    assert "continuationToken" not in call
    variables = call["outputVariables"]
    assert variables["summary"] == "1 migration"
    assert variables["logs"].startswith(
        f"https://{TARGET_REGION}.console.aws.amazon.com/cloudwatch/home?region={TARGET_REGION}#"
    )
    assert "$252Fpipelines$252Fshop$252Fprod$252Frunner" in variables["logs"]
    # Each call assumed the target's role again: start, running poll, final poll.
    assert [a["RoleArn"] for a in rt.connect.assumed] == [rt.document.targets["prod"].role] * 3


def test_past_the_max_wait_the_target_task_is_stopped(rt: Runtime) -> None:
    started = _start(rt)
    rt.now.now = started.deadline + 1
    details = _fails(rt, _job(MIGRATE, token=started.token()))
    assert details["message"].startswith("migrate.migrate timed out")
    (task,) = _ecs().describe_tasks(cluster=_cluster(rt), tasks=[started.task])["tasks"]
    assert task["lastStatus"] == "STOPPED"


def test_direct_calls_with_an_environment_reach_the_target(rt: Runtime) -> None:
    start = handle_direct({"action": "start", **MIGRATE}, rt)
    assert start["ok"] is True, start
    assert start["target"] == "prod"
    assert start["logGroup"] == GROUP
    assert start["logs"].startswith(f"https://{TARGET_REGION}.console.aws.amazon.com/")
    task = start["task"]
    where = {"task": task, "environment": "prod"}
    status = handle_direct({"action": "status", **where}, rt)
    assert (status["ok"], status["status"], status["events"]) == (True, "RUNNING", [])
    logs = _session(PROD).client("logs")
    logs.create_log_stream(logGroupName=GROUP, logStreamName=start["logStream"])
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName=start["logStream"],
        logEvents=[{"timestamp": NOW_MS, "message": "in prod"}],
    )
    status = handle_direct({"action": "status", **where}, rt)
    assert [e["message"] for e in status["events"]] == ["in prod"]
    # Without the environment the invoker looks on the toolchain's cluster: not there.
    assert handle_direct({"action": "status", "task": task}, rt)["ok"] is False
    assert handle_direct({"action": "stop", **where}, rt) == {"ok": True}
    assert handle_direct({"action": "status", **where}, rt)["status"] == "STOPPED"


# Mistakes a person can act on


def test_a_missing_runner_stack_says_what_to_deploy(rt: Runtime) -> None:
    details = _fails(rt, _job({**MIGRATE, "environment": "staging"}))
    assert details["message"] == (
        f"invoker error: no stack shop-staging-runner in {TARGET_REGION} (environment staging): "
        "deploy shop-staging-runner first"
    )
    answer = handle_direct({"action": "start", **MIGRATE, "environment": "staging"}, rt)
    assert answer == {"ok": False, "error": ANY}
    assert "deploy shop-staging-runner first" in answer["error"]


def test_a_runner_stack_without_the_output_says_what_to_deploy(rt: Runtime) -> None:
    prod = dataclasses.replace(rt.document.targets["prod"], stack="shop-prod-hollow")
    rt.document = dataclasses.replace(rt.document, targets={"prod": prod})
    details = _fails(rt, _job(MIGRATE))
    assert (
        "stack shop-prod-hollow in eu-west-2 (environment prod) (CREATE_COMPLETE) has no "
        in (details["message"])
    )
    assert details["message"].endswith("output SecurityGroup: deploy shop-prod-hollow first")
    assert _tasks(rt) == []


@pytest.mark.parametrize(
    ("environment", "reason"),
    [
        ("dev", "unknown environment 'dev'; known: prod, staging"),  # listed, but no target
        ("qa", "unknown environment 'qa'; known: prod, staging"),
        ("Prod", "environment 'Prod' is not a name like prod"),
    ],
)
def test_an_environment_without_a_target_is_refused(
    rt: Runtime, environment: str, reason: str
) -> None:
    details = _fails(rt, _job({**MIGRATE, "environment": environment}))
    assert details["type"] == "ConfigurationError"
    assert details["message"] == f"refused: {reason}"
    assert rt.connect.assumed == []
    answer = handle_direct({"action": "status", "task": "x", "environment": environment}, rt)
    assert answer == {"ok": False, "refused": reason}


def test_tokens_name_a_known_target_or_none(rt: Runtime) -> None:
    started = _start(rt)
    unknown = dataclasses.replace(started, target="qa").token()
    details = _fails(rt, _job(MIGRATE, token=unknown))
    assert details["message"] == "invoker error: environment 'qa' has no target in runners.json"
    for forged, message in [
        (dataclasses.replace(started, target="../x").token(), "names no environment"),
        (started.token().replace('"target"', '"cluster"'), "not one the invoker wrote"),
    ]:
        assert message in _fails(rt, _job(MIGRATE, token=forged))["message"]
    # A token written before targets existed means the toolchain's cluster.
    old = {k: v for k, v in json.loads(started.token()).items() if k != "target"}
    assert Started.from_token(json.dumps(old)).target is None


# The release image


def _definition(arn_or_family: str) -> dict[str, Any]:
    return _ecs().describe_task_definition(taskDefinition=arn_or_family)["taskDefinition"]


def _comparable(definition: dict[str, Any]) -> dict[str, Any]:
    volatile = {"taskDefinitionArn", "revision", "registeredAt", "registeredBy", "status"}
    kept = {k: v for k, v in definition.items() if k not in volatile}
    kept["containerDefinitions"] = [
        {k: v for k, v in c.items() if not (c["name"] == names.CONTAINER and k == "image")}
        for c in definition["containerDefinitions"]
    ]
    return kept


def _image(n: int) -> str:
    return f"{RELEASE_REPOSITORY}@sha256:{n:064x}"


def test_a_release_runner_runs_a_revision_differing_only_in_the_image(rt: Runtime) -> None:
    image = _image(next(_counter) + 1000)
    _start(rt, {**MIGRATE, "image": image})
    (request,) = rt.connect.run_task
    revision = _definition(request["taskDefinition"])
    assert revision["containerDefinitions"][0]["image"] == image
    assert revision["containerDefinitions"][1]["image"] == "public.ecr.aws/proxy:1"
    original = _definition("shop-prod-runner-migrate:1")
    assert original["containerDefinitions"][0]["image"] == "placeholder:release"
    assert _comparable(revision) == _comparable(original)
    assert revision["revision"] > 1
    # The same image again runs the same revision; another image, a new one (other jobs).
    _start(rt, {**MIGRATE, "image": image}, job_id="22222222-2222-3333-4444-555555555555")
    _start(
        rt,
        {**MIGRATE, "image": _image(next(_counter) + 2000)},
        job_id="33333333-2222-3333-4444-555555555555",
    )
    arns = [r["taskDefinition"] for r in rt.connect.run_task]
    assert arns[1] == arns[0]
    assert arns[2] != arns[0]
    assert _comparable(_definition(arns[2])) == _comparable(original)


def test_a_runner_of_its_own_image_runs_its_family_as_it_is(rt: Runtime) -> None:
    _start(rt, {"runner": "echo", "script": "args", "args": ["hi"], "environment": "prod"})
    (request,) = rt.connect.run_task
    assert request["taskDefinition"] == "shop-prod-runner-echo"


def _revisions() -> int:
    return len(
        _ecs().list_task_definitions(familyPrefix="shop-prod-runner-migrate")["taskDefinitionArns"]
    )


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({**MIGRATE, "image": None}, "runs the release image: the request needs `image`"),
        (
            {"runner": "echo", "script": "args", "args": ["x"], "image": RELEASE_IMAGE},
            "`image` is only for runners of the release image",
        ),
        (
            {**MIGRATE, "image": RELEASE_IMAGE.replace("shop-web", "shop-other")},
            f"is not {RELEASE_REPOSITORY}@sha256:<64 lowercase hex digits>",
        ),
        ({**MIGRATE, "image": f"{RELEASE_REPOSITORY}:latest"}, "is not registry/repository@"),
        ({**MIGRATE, "image": RELEASE_IMAGE.upper()}, "is not registry/repository@sha256"),
        ({**MIGRATE, "image": RELEASE_IMAGE + " && id"}, "is not registry/repository@sha256"),
    ],
)
def test_release_images_are_refused_unless_a_digest_of_the_release_repository(
    rt: Runtime, params: dict, reason: str
) -> None:
    before = _revisions()
    details = _fails(rt, _job({k: v for k, v in params.items() if v is not None}))
    assert details["type"] == "ConfigurationError"
    assert reason in details["message"]
    assert (_revisions(), _tasks(rt), rt.connect.assumed) == (before, [], [])


def test_the_copied_fields_are_what_register_task_definition_takes() -> None:
    model = boto3.client("ecs", region_name=REGION).meta.service_model
    members = set(model.operation_model("RegisterTaskDefinition").input_shape.members)
    assert set(REGISTER_FIELDS) == members - {"tags"}


# Artifacts


def test_a_target_job_gets_presigned_links_to_the_artifacts_it_names(rt: Runtime) -> None:
    _start(rt, PLAN)
    (request,) = rt.connect.run_task
    artifacts = json.loads(_variables(request)[names.ARTIFACTS_VARIABLE])
    assert list(artifacts) == ["Templates"]  # Source is an input too, but no argument names it
    link = urlsplit(artifacts["Templates"])
    assert (link.scheme, link.netloc, link.path) == (
        "https",
        f"artifacts.s3.{REGION}.amazonaws.com",
        "/p/Templates/k.zip",
    )
    query = {k: v[0] for k, v in parse_qs(link.query).items()}
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Credential"].startswith(f"{CREDENTIALS['accessKeyId']}/")
    assert query["X-Amz-Credential"].endswith(f"/{REGION}/s3/aws4_request")
    assert query["X-Amz-Expires"] == "3600"
    assert query["X-Amz-Security-Token"] == CREDENTIALS["sessionToken"]


def test_a_target_job_delivered_again_resumes_its_task_in_the_environment(rt: Runtime) -> None:
    started = _start(rt, PLAN)
    # Later deliveries of the same first call: links signed later would make another RunTask
    # request, but there is none: the job's task is found in the environment's cluster.
    again = [_start(rt, PLAN) for _ in range(2)]
    assert again == [started, started]
    assert len(rt.connect.run_task) == 1
    assert _tasks(rt) == [started.task]
    other = _start(rt, PLAN, job_id="44444444-2222-3333-4444-555555555555")
    assert other.task != started.task
    assert sorted(_tasks(rt)) == sorted([started.task, other.task])


def test_a_target_job_needs_the_jobs_artifact_credentials(rt: Runtime) -> None:
    details = _fails(rt, _job(PLAN, credentials=None))
    assert details["message"] == (
        "invoker error: the job has no artifactCredentials, so its input artifacts cannot be "
        "shared with environment prod"
    )
    assert _tasks(rt) == []
    _start(rt, {**MIGRATE})  # a job that names no artifact needs none
    assert names.ARTIFACTS_VARIABLE not in _variables(rt.connect.run_task[0])


def test_overrides_longer_than_ecs_takes_are_refused_before_run_task() -> None:
    class Ecs:
        def run_task(self, **_: Any) -> dict:
            raise AssertionError("run_task was called")

    place = Place(Clients(ecs=Ecs(), logs=None), "c", "g", REGION, target="prod")
    admitted = Admitted(
        runner="echo", script="args", on="ecs", argv=("echo",), cpu=256, memory=512,
        max_wait_minutes=10,
    )  # fmt: skip
    links = {f"A{i}": "https://b.s3.amazonaws.com/k?" + "x" * 1500 for i in range(6)}
    with pytest.raises(InvokerError, match=f"ECS takes at most {MAX_OVERRIDES}"):
        start_task(
            place,
            admitted,
            task_definition="t",
            network=Network(subnets=("s",), security_groups=("g",)),
            now=0,
            artifacts=links,
        )


# The toolchain's own network: its security group from the runner stack, like a target's


def test_a_toolchain_job_reads_its_security_group_from_the_runner_stack(aws: World) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    cfn = boto3.client("cloudformation", region_name=REGION)
    cfn.create_stack(
        StackName="shop-runner",
        TemplateBody=json.dumps(RUNNER_STACK),
        Parameters=[{"ParameterKey": "Vpc", "ParameterValue": vpc}],
    )
    (output,) = cfn.describe_stacks(StackName="shop-runner")["Stacks"][0]["Outputs"]
    base = document()
    ecs = boto3.client("ecs", region_name=REGION)
    ecs.create_cluster(clusterName=base.cluster)
    ecs.register_task_definition(
        family=base.task_definition("echo"),
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": names.CONTAINER, "image": "i", "memory": 512}],
    )
    network = Network(subnets=(subnet,), stack="shop-runner")
    runs: list[dict[str, Any]] = []
    ecs.meta.events.register(
        "provide-client-params.ecs.RunTask", lambda params, **_: runs.append(dict(params))
    )
    rt = Runtime(
        document=dataclasses.replace(base, network=network, targets={}),
        ecs=ecs,
        logs=boto3.client("logs", region_name=REGION),
        codepipeline=Pipeline(REGION),
        region=REGION,
        now=Clock(),
        cloudformation=cfn,
    )

    answer = handle_direct(
        {"action": "start", "runner": "echo", "script": "say", "args": ["--text", "hi"]}, rt
    )

    assert answer["ok"], answer
    (request,) = runs
    assert request["networkConfiguration"]["awsvpcConfiguration"]["securityGroups"] == [
        output["OutputValue"]
    ]
    assert request["cluster"] == base.cluster


def test_a_runner_its_environment_has_no_task_definition_for_is_refused(rt: Runtime) -> None:
    prod = dataclasses.replace(
        rt.document.targets["prod"], task_definitions={"echo": "shop-prod-runner-echo"}
    )
    rt.document = dataclasses.replace(rt.document, targets={**rt.document.targets, "prod": prod})
    answer = handle_direct({"action": "start", **MIGRATE}, rt)
    assert answer == {
        "ok": False,
        "refused": "the runner stack of prod has no task definition for 'migrate' (it has echo): "
        "no step of prod runs it; add one to environments/prod.yaml",
    }
    assert rt.connect.run_task == []


def test_a_release_runner_needs_an_environment_when_the_toolchain_lists_its_runners(
    rt: Runtime,
) -> None:
    rt.document = dataclasses.replace(rt.document, task_definitions={"echo": "shop-runner-echo"})
    request = {k: v for k, v in MIGRATE.items() if k != "environment"}
    answer = handle_direct({"action": "start", **request}, rt)
    assert answer["ok"] is False
    assert answer["refused"].endswith("name the environment whose steps run it (--env)")
