"""The invoker: the CodePipeline job flow against moto's ECS (task states stepped by hand through
moto's backend) with CodePipeline's calls checked by botocore's Stubber, the direct calls of
`pipelines run`, log paging against moto's CloudWatch Logs, and the Lambda package."""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ecs.models import ecs_backends

from pipelines.invoker import handler as invoker
from pipelines.invoker import names
from pipelines.invoker.document import Network
from pipelines.invoker.handler import Runtime, admit_request, handle_direct, handle_job
from pipelines.invoker.logs import console_url, read_log_events, read_outputs
from pipelines.invoker.tasks import InvokerError, Place, Started, resume_task
from pipelines.invoker_package import HANDLER, invoker_files, invoker_zip
from tests.invoker.fixture_runners import RELEASE_IMAGE, RELEASE_REPOSITORY
from tests.invoker.support import (
    JOB_ID,
    RUNNERS_JSON,
    Clock,
    Pipeline,
    codepipeline_job,
    document,
    moto_with_tasks_held,
    start_job,
)

REGION = "eu-west-1"
# CloudWatch Logs drops events older than 14 days, moto too.
NOW_MS = int(time.time() * 1000)
GROUP = "/pipelines/shop/runner"
MIGRATE = {
    "runner": "migrate",
    "script": "migrate",
    "args": ["--database", "default", "app_one"],
    "image": RELEASE_IMAGE,
}


@dataclasses.dataclass(frozen=True)
class World:
    network: Network


_clusters = itertools.count()


@pytest.fixture(scope="module")
def aws():
    """One moto world for the module (starting moto's EC2 is the slow part); each test gets a
    cluster of its own, so tasks never leak between tests."""
    with moto_with_tasks_held(REGION):
        yield _world()


def _world() -> World:
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    # moto gives a task's network interface a DNS name only in a VPC with DNS hostnames.
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="runner", Description="runner", VpcId=vpc)
    ecs = boto3.client("ecs")
    for runner in ("migrate", "echo", "cloudformation-planner"):
        ecs.register_task_definition(
            family=f"shop-runner-{runner}",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[{"name": names.CONTAINER, "image": "i", "memory": 512}],
        )
    boto3.client("logs").create_log_group(logGroupName=GROUP)
    return World(network=Network(subnets=(subnet,), security_groups=(group["GroupId"],)))


@pytest.fixture
def rt(aws: World) -> Runtime:
    cluster = f"shop-runner-{next(_clusters)}"
    ecs = boto3.client("ecs")
    ecs.create_cluster(clusterName=cluster)
    doc = dataclasses.replace(document(), cluster=cluster, network=aws.network)
    return Runtime(
        document=doc,
        ecs=ecs,
        logs=boto3.client("logs"),
        codepipeline=Pipeline(),
        region=REGION,
        now=Clock(),
    )


def _stream() -> str:
    return f"test/{next(_clusters)}"


def _job(params: Any = None, token: str | None = None, raw: str | None = None) -> dict:
    return codepipeline_job(raw if raw is not None else json.dumps(params), token=token)


def _start(rt: Runtime, params: dict = MIGRATE) -> Started:
    return start_job(rt, _job(params))


def _set_task(
    rt: Runtime, arn: str, status: str, exit_code: int | None = 0, reason: str = ""
) -> None:
    task = ecs_backends[DEFAULT_ACCOUNT_ID][REGION].tasks[rt.document.cluster][arn]
    task.status = status
    task.stopped_reason = reason
    container = task.containers[0]
    container.last_status = status
    container.exitCode = exit_code


def _log(rt: Runtime, started: Started, *lines: str) -> None:
    rt.logs.create_log_stream(logGroupName=GROUP, logStreamName=started.log_stream)
    rt.logs.put_log_events(
        logGroupName=GROUP,
        logStreamName=started.log_stream,
        logEvents=[{"timestamp": NOW_MS + i, "message": line} for i, line in enumerate(lines)],
    )


def _link(started: Started) -> str:
    return (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        "#logsV2:log-groups/log-group/$252Fpipelines$252Fshop$252Frunner/log-events/"
        f"migrate$252Fjob$252F{started.task_id}"
    )


# CodePipeline job flow


def test_the_first_call_starts_the_task_and_returns_a_continuation(rt: Runtime) -> None:
    started = _start(rt)
    task = rt.ecs.describe_tasks(cluster=rt.document.cluster, tasks=[started.task])["tasks"][0]
    assert task["launchType"] == "FARGATE"
    # Named by the CodePipeline job, so that a repeated delivery of the call finds it.
    assert task["startedBy"] == f"{names.STARTED_BY}/{JOB_ID}"
    # migrate runs the release image: a revision of its family with the digest as the image.
    assert ":task-definition/shop-runner-migrate:" in task["taskDefinitionArn"]
    revision = rt.ecs.describe_task_definition(taskDefinition=task["taskDefinitionArn"])
    assert revision["taskDefinition"]["containerDefinitions"][0]["image"] == RELEASE_IMAGE
    overrides = task["overrides"]
    assert (overrides["cpu"], overrides["memory"]) == ("1024", "4096")
    (container,) = overrides["containerOverrides"]
    assert container["name"] == "job"
    # The admitted argv, as the container's command: never a shell string.
    assert container["command"] == [
        "python",
        "manage.py",
        "migrate",
        "--noinput",
        "--database",
        "default",
        "app_one",
    ]
    assert {v["name"]: v["value"] for v in container["environment"]} == {
        names.ARTIFACTS_VARIABLE: '{"Templates": "s3://artifacts/p/Templates/k.zip"}',
        names.RUNNER_VARIABLE: "migrate",
        names.SCRIPT_VARIABLE: "migrate",
    }
    assert started.log_stream == f"migrate/job/{started.task_id}"
    assert started.deadline - started.started == 30 * 60


def test_a_running_task_gets_another_continuation(rt: Runtime) -> None:
    started = _start(rt)
    rt.now.now += 15 * 60
    rt.codepipeline.expect("put_job_success_result")
    handle_job(_job(MIGRATE, token=started.token()), rt)
    _, call = rt.codepipeline.only_call()
    assert Started.from_token(call["continuationToken"]) == started
    assert call["executionDetails"]["percentComplete"] == 50
    assert "is RUNNING" in call["executionDetails"]["summary"]


def test_exit_zero_succeeds_with_output_variables(rt: Runtime) -> None:
    started = _start(rt)
    _log(
        rt,
        started,
        "Applying migrations...",
        "::pipelines-output:: summary=early value, replaced below",
        "::pipelines-output:: exitCode=99",
        "::pipelines-output:: summary=3 migrations applied",
        "done",
    )
    _set_task(rt, started.task, "STOPPED", exit_code=0, reason="Essential container in task exited")
    rt.codepipeline.expect("put_job_success_result")
    handle_job(_job(MIGRATE, token=started.token()), rt)
    _, call = rt.codepipeline.only_call()
    assert "continuationToken" not in call
    assert call["outputVariables"] == {
        "summary": "3 migrations applied",
        "exitCode": "0",  # the job printed 99: reserved names are the invoker's
        "logs": _link(started),
        "task": started.task_id,
    }
    assert call["executionDetails"]["summary"] == "3 migrations applied"


def test_the_summary_variable_is_short_enough_for_an_approval_message(rt: Runtime) -> None:
    started = _start(rt)
    long = "applied " + "x" * 200
    _log(rt, started, f"::pipelines-output:: summary={long}")
    _set_task(rt, started.task, "STOPPED", exit_code=0)
    rt.codepipeline.expect("put_job_success_result")
    handle_job(_job(MIGRATE, token=started.token()), rt)
    _, call = rt.codepipeline.only_call()
    summary = call["outputVariables"]["summary"]
    assert len(summary) == names.MAX_SUMMARY
    assert summary == long[: names.MAX_SUMMARY - 3] + "..."
    assert call["executionDetails"]["summary"] == long  # the action's details keep it whole


def test_a_non_zero_exit_fails_with_the_code_and_the_logs(rt: Runtime) -> None:
    started = _start(rt)
    _set_task(rt, started.task, "STOPPED", exit_code=3, reason="Essential container in task exited")
    rt.codepipeline.expect("put_job_failure_result")
    handle_job(_job(MIGRATE, token=started.token()), rt)
    name, call = rt.codepipeline.only_call()
    assert name == "PutJobFailureResult"
    details = call["failureDetails"]
    assert details["type"] == "JobFailed"
    assert details["message"] == (
        "migrate.migrate failed: exit code 3 (Essential container in task exited). "
        f"Logs: {_link(started)}"
    )
    assert details["externalExecutionId"] == started.task_id


def test_a_task_stopped_without_an_exit_code_fails(rt: Runtime) -> None:
    started = _start(rt)
    _set_task(
        rt, started.task, "STOPPED", exit_code=None, reason="CannotPullContainerError: denied"
    )
    rt.codepipeline.expect("put_job_failure_result")
    handle_job(_job(MIGRATE, token=started.token()), rt)
    _, call = rt.codepipeline.only_call()
    assert (
        "the task stopped without an exit code (CannotPullContainerError: denied)"
        in (call["failureDetails"]["message"])
    )


def test_past_the_max_wait_the_task_is_stopped_and_the_job_fails(rt: Runtime) -> None:
    started = _start(rt)
    rt.now.now = started.deadline + 1
    rt.codepipeline.expect("put_job_failure_result")
    handle_job(_job(MIGRATE, token=started.token()), rt)
    _, call = rt.codepipeline.only_call()
    message = call["failureDetails"]["message"]
    assert message.startswith("migrate.migrate timed out: still RUNNING after the max wait of 30")
    assert f"task {started.task_id} stopped" in message
    task = rt.ecs.describe_tasks(cluster=rt.document.cluster, tasks=[started.task])["tasks"][0]
    assert task["lastStatus"] == "STOPPED"
    assert task["stoppedReason"] == "pipelines: max wait of 30 minutes exceeded"


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({**MIGRATE, "args": ["--database", "default; rm -rf /"]}, "does not match its pattern"),
        ({**MIGRATE, "args": "--database default"}, "not a shell string"),
        ({**MIGRATE, "cpu": 4096}, "cpu 4096 is above the maximum of 1024"),
        ({**MIGRATE, "environment": "qa"}, "unknown environment 'qa'"),
        ({"runner": "smoke", "script": "check"}, "runs on CodeBuild"),
        ({"runner": "nope", "script": "x"}, "unknown runner 'nope'"),
    ],
)
def test_a_refused_request_fails_the_job_and_starts_nothing(
    rt: Runtime, params: dict, reason: str
) -> None:
    rt.codepipeline.expect("put_job_failure_result")
    handle_job(_job(params), rt)
    _, call = rt.codepipeline.only_call()
    assert call["failureDetails"]["type"] == "ConfigurationError"
    assert call["failureDetails"]["message"].startswith("refused: ")
    assert reason in call["failureDetails"]["message"]
    assert rt.ecs.list_tasks(cluster=rt.document.cluster)["taskArns"] == []


def test_user_parameters_that_are_not_json_are_refused(rt: Runtime) -> None:
    rt.codepipeline.expect("put_job_failure_result")
    handle_job(_job(raw="migrate migrate --database default"), rt)
    _, call = rt.codepipeline.only_call()
    assert call["failureDetails"]["message"].startswith("refused: UserParameters is not JSON")
    assert rt.ecs.list_tasks(cluster=rt.document.cluster)["taskArns"] == []


def test_absurdly_nested_user_parameters_are_refused_not_raised(rt: Runtime) -> None:
    rt.codepipeline.expect("put_job_failure_result")
    handle_job(_job(raw="[" * 100_000 + "]" * 100_000), rt)
    _, call = rt.codepipeline.only_call()
    assert call["failureDetails"]["message"] == (
        "refused: UserParameters is nested too deeply to be a request"
    )
    assert rt.ecs.list_tasks(cluster=rt.document.cluster)["taskArns"] == []


def test_a_forged_token_cannot_reach_a_task_the_invoker_did_not_start(rt: Runtime) -> None:
    doc = rt.document
    other = rt.ecs.run_task(
        cluster=rt.document.cluster,
        taskDefinition="shop-runner-echo",
        launchType="FARGATE",
        startedBy="someone-else",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": list(doc.network.subnets),
                "securityGroups": list(doc.network.security_groups),
            }
        },
    )["tasks"][0]["taskArn"]
    forged = dataclasses.replace(
        Started.from_token(_start(rt).token()), task=other, deadline=0
    ).token()
    rt.codepipeline.expect("put_job_failure_result")
    handle_job(_job(MIGRATE, token=forged), rt)
    _, call = rt.codepipeline.only_call()
    assert f"no runner task {other}" in call["failureDetails"]["message"]
    task = rt.ecs.describe_tasks(cluster=rt.document.cluster, tasks=[other])["tasks"][0]
    assert task["lastStatus"] == "RUNNING"  # past its "deadline", yet not stopped


# One task per CodePipeline job: Lambda may deliver the same (asynchronous) call more than once


class EcsCalls:
    """The requests an ECS client sends: (operation, parameters)."""

    def __init__(self, ecs: Any) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        ecs.meta.events.register("provide-client-params.ecs.*", self._called)

    def _called(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, dict(params)))

    def take(self) -> list[tuple[str, dict[str, Any]]]:
        taken, self.calls = self.calls, []
        return taken


def _job_tasks(rt: Runtime) -> list[str]:
    cluster = rt.document.cluster
    return [
        *rt.ecs.list_tasks(cluster=cluster, desiredStatus="RUNNING")["taskArns"],
        *rt.ecs.list_tasks(cluster=cluster, desiredStatus="STOPPED")["taskArns"],
    ]


def _deliver(rt: Runtime, job: dict) -> dict[str, Any]:
    """One delivery of a first call, answered with a continuation."""
    rt.codepipeline.expect("put_job_success_result")
    handle_job(job, rt)
    name, call = rt.codepipeline.only_call()
    assert name == "PutJobSuccessResult", call
    return call


@pytest.mark.parametrize("deliveries", [2, 3])
def test_a_first_call_delivered_again_resumes_its_task_and_starts_no_other(
    rt: Runtime, deliveries: int, capsys: pytest.CaptureFixture[str]
) -> None:
    ecs = EcsCalls(rt.ecs)
    job = _job(MIGRATE)
    calls = [_deliver(rt, job) for _ in range(deliveries)]
    (task,) = _job_tasks(rt)  # one task in the cluster
    (request,) = [p for name, p in ecs.calls if name == "RunTask"]
    # After the first delivery, only a lookup: no task definition revision, no task.
    first = [name for name, _ in ecs.calls].index("RunTask")
    assert {name for name, _ in ecs.calls[first + 1 :]} == {"ListTasks", "DescribeTasks"}
    # ECS's own idempotency token too (moto ignores it: the lookup is what this test proves).
    assert (request["clientToken"], request["startedBy"]) == (
        JOB_ID,
        f"{names.STARTED_BY}/{JOB_ID}",
    )
    tokens = [Started.from_token(c["continuationToken"]) for c in calls]
    assert tokens == [tokens[0]] * deliveries  # the same task, the same deadline
    assert tokens[0].task == task
    assert [c["executionDetails"]["summary"] for c in calls] == [
        f"migrate.migrate: started task {tokens[0].task_id}",
        *[f"migrate.migrate: task {tokens[0].task_id}, started by an earlier delivery of this call"]
        * (deliveries - 1),
    ]
    events = [json.loads(line)["event"] for line in capsys.readouterr().out.splitlines()]
    assert events == ["started", *["resumed"] * (deliveries - 1)]


def test_another_job_starts_its_own_task(rt: Runtime) -> None:
    first = Started.from_token(_deliver(rt, _job(MIGRATE))["continuationToken"])
    other = codepipeline_job(json.dumps(MIGRATE), job_id="99999999-8888-7777-6666-555555555555")
    second = Started.from_token(_deliver(rt, other)["continuationToken"])
    again = Started.from_token(_deliver(rt, other)["continuationToken"])
    assert first.task != second.task
    assert again.task == second.task
    assert sorted(_job_tasks(rt)) == sorted([first.task, second.task])


def test_a_first_call_delivered_again_after_its_task_stopped_resumes_it(rt: Runtime) -> None:
    started = _start(rt)
    rt.ecs.stop_task(cluster=rt.document.cluster, task=started.task, reason="essential exited")
    _set_task(rt, started.task, "STOPPED", exit_code=0)
    call = _deliver(rt, _job(MIGRATE))
    assert Started.from_token(call["continuationToken"]).task == started.task
    assert _job_tasks(rt) == [started.task]


@pytest.mark.parametrize("answer", ["InvalidJobStateException", "JobNotFoundException"])
def test_a_late_delivery_of_a_job_with_its_result_starts_nothing_and_ends_quietly(
    rt: Runtime, answer: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The whole job: started, then followed (by the continuation's own job) to success.
    started = _start(rt)
    _set_task(rt, started.task, "STOPPED", exit_code=0)
    rt.codepipeline.expect("put_job_success_result")
    handle_job(codepipeline_job(json.dumps(MIGRATE), token=started.token(), job_id="c0"), rt)
    rt.codepipeline.only_call()
    capsys.readouterr()
    # Then the first call again: CodePipeline takes no second result for its job.
    rt.codepipeline.expect_closed("put_job_success_result", answer)
    handle_job(_job(MIGRATE), rt)  # no exception: Lambda would only deliver it again
    name, _ = rt.codepipeline.only_call()  # and no failure reported either
    assert name == "PutJobSuccessResult"
    assert _job_tasks(rt) == [started.task]
    (resumed, closed) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (resumed["event"], resumed["task"]) == ("resumed", started.task)
    assert (closed["event"], closed["job"]) == ("already-reported", JOB_ID)
    assert closed["answer"].startswith(answer)


def test_a_repeated_poll_of_a_job_with_its_result_ends_quietly(rt: Runtime) -> None:
    started = _start(rt)
    _set_task(rt, started.task, "STOPPED", exit_code=3)
    rt.codepipeline.expect_closed("put_job_failure_result")
    handle_job(_job(MIGRATE, token=started.token()), rt)
    name, _ = rt.codepipeline.only_call()
    assert name == "PutJobFailureResult"  # once: the closed job gets no second report


class RacingEcs:
    """ECS as a delivery racing another one sees it: ListTasks does not show the other's task
    yet, and RunTask refuses the job's token (used with other parameters) naming that task,
    with the error botocore makes of ECS's answer."""

    def __init__(self, ecs: Any, task: str) -> None:
        self._ecs = ecs
        self.refusing = boto3.client("ecs", region_name=REGION)
        self.stub = Stubber(self.refusing)
        self.stub.add_client_error(
            "run_task",
            service_error_code="ConflictException",
            service_message="The clientToken is already in use with a different request.",
            http_status_code=400,
            modeled_fields={"resourceIds": [task]},
        )
        self.stub.activate()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ecs, name)

    def list_tasks(self, **_: Any) -> dict[str, Any]:
        return {"taskArns": []}

    def run_task(self, **request: Any) -> dict[str, Any]:
        return self.refusing.run_task(**request)


def test_a_racing_delivery_refused_by_the_idempotency_token_resumes_the_task_ecs_names(
    rt: Runtime,
) -> None:
    started = _start(rt)
    ecs = rt.ecs
    rt.ecs = racing = RacingEcs(ecs, started.task)
    call = _deliver(rt, _job(MIGRATE))
    racing.stub.assert_no_pending_responses()  # RunTask was called, and refused
    assert Started.from_token(call["continuationToken"]).task == started.task
    rt.ecs = ecs
    assert _job_tasks(rt) == [started.task]


def test_a_resumed_task_keeps_its_deadline_from_when_ecs_created_it() -> None:
    admitted = admit_request(document(), MIGRATE).admitted
    place = Place(clients=None, cluster="c", log_group=GROUP, region=REGION)
    arn = "arn:aws:ecs:eu-west-1:111111111111:task/c/abc"
    created = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    info = {
        "taskArn": arn,
        "createdAt": created,
        "overrides": {
            "containerOverrides": [
                {
                    "name": "job",
                    "environment": [
                        {"name": names.RUNNER_VARIABLE, "value": "migrate"},
                        {"name": names.SCRIPT_VARIABLE, "value": "migrate"},
                    ],
                }
            ]
        },
    }
    started = resume_task(place, admitted, info, now=created.timestamp() + 600)
    assert started.started == created.timestamp()
    assert started.deadline == created.timestamp() + 30 * 60
    assert started.log_stream == "migrate/job/abc"
    other = {**info, "overrides": {"containerOverrides": []}}
    with pytest.raises(InvokerError, match=r"runs \., not migrate\.migrate"):
        resume_task(place, admitted, other, now=0)


def test_a_job_id_that_cannot_name_a_task_fails_the_job_and_starts_nothing(rt: Runtime) -> None:
    rt.codepipeline.expect("put_job_failure_result")
    handle_job(codepipeline_job(json.dumps(MIGRATE), job_id="not a job id"), rt)
    _, call = rt.codepipeline.only_call()
    assert "cannot name an ECS task" in call["failureDetails"]["message"]
    assert _job_tasks(rt) == []


# Direct calls (pipelines run)


def test_direct_start_status_and_stop(rt: Runtime) -> None:
    start = handle_direct({"action": "start", **MIGRATE, "environment": "prod"}, rt)
    assert start["ok"] is True
    task = start["task"]
    assert start["logStream"] == f"migrate/job/{task.rsplit('/', 1)[1]}"
    assert start["maxWaitMinutes"] == 30
    status = handle_direct({"action": "status", "task": task}, rt)
    assert (status["status"], status["stopped"], status["events"]) == ("RUNNING", False, [])
    assert status["logToken"] is None  # no stream yet: nothing lost, nothing skipped
    started = Started.from_token(
        json.dumps(
            {
                "task": task,
                "runner": "migrate",
                "script": "migrate",
                "log_group": GROUP,
                "log_stream": start["logStream"],
                "started": 0,
                "deadline": 0,
                "max_wait_minutes": 30,
            }
        )
    )
    _log(rt, started, "one", "two")
    status = handle_direct({"action": "status", "task": task}, rt)
    assert [e["message"] for e in status["events"]] == ["one", "two"]
    again = handle_direct({"action": "status", "task": task, "logToken": status["logToken"]}, rt)
    assert again["events"] == []
    assert handle_direct({"action": "stop", "task": task}, rt) == {"ok": True}
    stopped = handle_direct({"action": "status", "task": task}, rt)
    assert stopped["status"] == "STOPPED"


def test_direct_calls_answer_refusals_and_errors_as_json(rt: Runtime) -> None:
    refused = handle_direct({"action": "start", **MIGRATE, "args": ["-x"]}, rt)
    assert refused == {"ok": False, "refused": ANY}
    assert "short option '-x' is not allowed" in refused["refused"]
    assert handle_direct({"action": "status", "task": "not-an-arn"}, rt) == {
        "ok": False,
        "refused": "task must be an ECS task ARN",
    }
    assert handle_direct({"action": "shell"}, rt)["error"].startswith("unknown action 'shell'")
    assert rt.ecs.list_tasks(cluster=rt.document.cluster)["taskArns"] == []


def test_the_handler_reads_the_document_from_the_environment(aws, monkeypatch) -> None:
    monkeypatch.setenv(names.RUNNERS_VARIABLE, RUNNERS_JSON.read_text())
    monkeypatch.setattr(invoker, "_runtime", None)
    answer = invoker.handler({"action": "start", "runner": "migrate", "script": "nope"})
    assert answer == {"ok": False, "refused": ANY}
    assert invoker._runtime is not None
    assert invoker._runtime.document.app == "shop"


# Logs


def test_log_paging_loses_no_line(aws) -> None:
    logs = boto3.client("logs")
    stream = _stream()
    logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    lines = [f"line {i}" for i in range(53)]
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName=stream,
        logEvents=[{"timestamp": NOW_MS + i, "message": m} for i, m in enumerate(lines)],
    )
    events, token = read_log_events(logs, GROUP, stream, limit=7)  # 8 pages
    assert [e.message for e in events] == lines
    more = [f"late {i}" for i in range(3)]
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName=stream,
        logEvents=[{"timestamp": NOW_MS + 1_000 + i, "message": m} for i, m in enumerate(more)],
    )
    events, token = read_log_events(logs, GROUP, stream, token, limit=2)
    assert [e.message for e in events] == more
    assert read_log_events(logs, GROUP, stream, token) == ([], token)
    assert read_log_events(logs, GROUP, "missing") == ([], None)


class ScriptedLogs:
    """CloudWatch's documented quirk: empty pages, with new tokens, before the end."""

    def __init__(self) -> None:
        self.pages = {
            None: ([], "t1"),
            "t1": (["a"], "t2"),
            "t2": ([], "t3"),
            "t3": ([], "t4"),
            "t4": (["b", "c"], "t5"),
            "t5": ([], "t5"),
        }

    def get_log_events(self, **request: Any) -> dict[str, Any]:
        messages, following = self.pages[request.get("nextToken")]
        return {
            "events": [{"timestamp": 1, "message": m} for m in messages],
            "nextForwardToken": following,
        }


def test_log_paging_goes_past_empty_pages_until_the_token_repeats() -> None:
    events, token = read_log_events(ScriptedLogs(), GROUP, "s")
    assert [e.message for e in events] == ["a", "b", "c"]
    assert token == "t5"


def test_outputs_come_from_the_end_of_the_stream(aws) -> None:
    logs = boto3.client("logs")
    stream = _stream()
    logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    lines = ["::pipelines-output:: summary=old", *[f"noise {i}" for i in range(10)]]
    lines += ["::pipelines-output:: summary=new", "::pipelines-output:: bad name=x", " ::x"]
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName=stream,
        logEvents=[{"timestamp": NOW_MS + i, "message": m} for i, m in enumerate(lines)],
    )
    assert read_outputs(logs, GROUP, stream, limit=4) == {"summary": "new"}
    assert read_outputs(logs, GROUP, "missing") == {}


def test_console_links_per_partition() -> None:
    assert console_url("cn-north-1", "/g", "s").startswith(
        "https://cn-north-1.console.amazonaws.cn/cloudwatch/home?region=cn-north-1#"
    )
    assert console_url("us-gov-west-1", "g", "a/b").endswith("log-group/g/log-events/a$252Fb")


# The Lambda package


def test_the_lambda_package_runs_on_the_standard_library_alone(tmp_path: Path) -> None:
    runners = json.loads(RUNNERS_JSON.read_text())
    runners["targets"] = {
        "prod": {
            "account": "333333333333",
            "region": "eu-west-2",
            "role": "arn:aws:iam::333333333333:role/shop-prod-runner-invoke",
            "subnets": ["subnet-0ccc3333"],
        }
    }
    for path, data in invoker_files(json.dumps(runners)).items():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    # -S: no site-packages, so no pydantic, yaml, boto3 or the editable install of this repo.
    # The clients are doubles: a toolchain job, then a prod job of the release image, whose
    # revision, security group and cluster come from the target.
    code = f"""
import json, sys
sys.path.insert(0, {str(tmp_path)!r})
from pipelines.invoker import handler as invoker
from pipelines.invoker.tasks import Clients

class Ecs:
    def __init__(self, cluster):
        self.arn = f"arn:aws:ecs:eu-west-1:111111111111:task/{{cluster}}/abc"
    def run_task(self, **request):
        self.request = request
        return {{"tasks": [{{"taskArn": self.arn}}]}}
    def describe_task_definition(self, taskDefinition):
        return {{"taskDefinition": {{"taskDefinitionArn": "arn:1", "family": taskDefinition,
                 "revision": 1, "status": "ACTIVE", "cpu": "1024", "memory": "4096",
                 "containerDefinitions": [{{"name": "job", "image": "x"}}]}}}}
    def register_task_definition(self, **request):
        self.registered = request
        return {{"taskDefinition": {{"taskDefinitionArn": "arn:2"}}}}

class Cfn:
    def describe_stacks(self, StackName):
        return {{"Stacks": [{{"StackName": StackName, "StackStatus": "CREATE_COMPLETE",
                 "Outputs": [{{"OutputKey": "SecurityGroup", "OutputValue": "sg-prod"}}]}}]}}

prod = Ecs("shop-prod-runner")
rt = invoker.Runtime(document=invoker.load_runners(), ecs=Ecs("shop-runner"), logs=None,
                     region="eu-west-1",
                     connect=lambda target: Clients(ecs=prod, logs=None, cloudformation=Cfn()))
ok = invoker.handle_direct({{"action": "start", "runner": "echo", "script": "args",
                             "args": ["hello"]}}, rt)
refused = invoker.handle_direct({{"action": "start", "runner": "echo", "script": "args",
                                  "args": ["$(id)"]}}, rt)
image = "111111111111.dkr.ecr.eu-west-1.amazonaws.com/shop-web@sha256:" + "ab" * 32
release = invoker.handle_direct({{"action": "start", "runner": "migrate", "script": "migrate",
                                  "environment": "prod", "image": image}}, rt)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("pydantic", "yaml", "boto3",
                                                                "botocore", "click"))
print(json.dumps([ok["ok"], rt.ecs.request["overrides"]["containerOverrides"][0]["command"],
                  refused["ok"], release, prod.request["cluster"],
                  prod.request["taskDefinition"],
                  prod.request["networkConfiguration"]["awsvpcConfiguration"],
                  prod.registered, heavy]))
"""
    result = subprocess.run(
        [sys.executable, "-S", "-c", code], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    ok, command, refused, release, cluster, definition, network, registered, heavy = answer
    assert (ok, command, refused, heavy) == (True, ["echo", "hello"], False, [])
    assert release["ok"] is True, release
    assert release["target"] == "prod"
    assert (cluster, definition) == ("shop-prod-runner", "arn:2")
    assert network == {
        "subnets": ["subnet-0ccc3333"],
        "securityGroups": ["sg-prod"],
        "assignPublicIp": "DISABLED",
    }
    assert registered == {
        "family": "shop-prod-runner-migrate",
        "cpu": "1024",
        "memory": "4096",
        "containerDefinitions": [
            {"name": "job", "image": f"{RELEASE_REPOSITORY}@sha256:{'ab' * 32}"}
        ],
    }
    assert HANDLER == "pipelines.invoker.handler.handler"


def test_the_lambda_package_is_deterministic() -> None:
    assert invoker_zip("{}") == invoker_zip("{}")


# Steps that a stage rollback does not run again (on_rollback: skip)

EXECUTION = "3c2b1a09-8f7e-4d6c-b5a4-938271605f4e"
SKIP = {"pipeline": "shop-release", "execution": EXECUTION}


def _execution_is(rt: Runtime, kind: str) -> None:
    """GetPipelineExecution's answer (checked against the model) for EXECUTION."""
    execution: dict[str, Any] = {
        "pipelineName": "shop-release",
        "pipelineVersion": 3,
        "pipelineExecutionId": EXECUTION,
        "status": "InProgress",
        "executionMode": "QUEUED",
        "executionType": kind,
    }
    if kind == "ROLLBACK":
        execution["rollbackMetadata"] = {
            "rollbackTargetPipelineExecutionId": "0e7c1a52-3f0b-4d6e-9d0a-6a3c2b1f0001"
        }
        execution["trigger"] = {"triggerType": "AutomatedRollback", "triggerDetail": "prod"}
    rt.codepipeline.stub.add_response(
        "get_pipeline_execution",
        {"pipelineExecution": execution},
        {"pipelineName": "shop-release", "pipelineExecutionId": EXECUTION},
    )


def test_a_step_that_skips_rollbacks_starts_nothing_on_a_rollback_and_succeeds(
    rt: Runtime,
) -> None:
    _execution_is(rt, "ROLLBACK")
    rt.codepipeline.expect("put_job_success_result")
    handle_job(_job({**MIGRATE, "skipOnRollback": SKIP}), rt)
    rt.codepipeline.stub.assert_no_pending_responses()
    [(asked, _), (name, call)] = rt.codepipeline.calls
    assert (asked, name) == ("GetPipelineExecution", "PutJobSuccessResult")
    summary = (
        f"migrate.migrate: skipped: execution {EXECUTION} is a stage rollback (on_rollback: skip)"
    )
    assert call["executionDetails"] == {"summary": summary, "percentComplete": 100}
    assert call["outputVariables"] == {
        "summary": "migrate.migrate: skipped on a stage rollback",
        "skipped": "rollback",
    }
    assert "continuationToken" not in call
    assert rt.ecs.list_tasks(cluster=rt.document.cluster)["taskArns"] == []


def test_a_step_that_skips_rollbacks_runs_on_a_standard_execution(rt: Runtime) -> None:
    _execution_is(rt, "STANDARD")
    rt.codepipeline.expect("put_job_success_result")
    handle_job(_job({**MIGRATE, "skipOnRollback": SKIP}), rt)
    [(asked, params), (name, call)] = rt.codepipeline.calls
    assert (asked, params) == (
        "GetPipelineExecution",
        {"pipelineName": "shop-release", "pipelineExecutionId": EXECUTION},
    )
    assert name == "PutJobSuccessResult" and "continuationToken" in call
    started = Started.from_token(call["continuationToken"])
    assert rt.ecs.list_tasks(cluster=rt.document.cluster)["taskArns"] == [started.task]


def test_a_step_without_the_setting_never_asks_what_kind_of_execution_runs_it(
    rt: Runtime,
) -> None:
    _start(rt)  # only PutJobSuccessResult was asked for, and only it was called


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        # The request is admitted first: a bad one is refused whatever the execution.
        (
            {**MIGRATE, "script": "drop", "skipOnRollback": SKIP},
            "refused: runner 'migrate' has no script 'drop'",
        ),
        (
            {**MIGRATE, "skipOnRollback": {"pipeline": "shop-release"}},
            "refused: skipOnRollback must be an object with the strings pipeline and execution",
        ),
    ],
    ids=["bad-request", "bad-setting"],
)
def test_a_refused_step_that_skips_rollbacks_asks_nothing_and_fails(
    rt: Runtime, params: dict, reason: str
) -> None:
    rt.codepipeline.expect("put_job_failure_result")
    handle_job(_job(params), rt)
    name, call = rt.codepipeline.only_call()
    assert name == "PutJobFailureResult"
    assert call["failureDetails"]["message"].startswith(reason), call
    assert call["failureDetails"]["type"] == "ConfigurationError"


def test_an_execution_that_cannot_be_read_fails_the_job_naming_the_permission(
    rt: Runtime,
) -> None:
    rt.codepipeline.stub.add_client_error(
        "get_pipeline_execution", service_error_code="AccessDeniedException", http_status_code=400
    )
    rt.codepipeline.expect("put_job_failure_result")
    handle_job(_job({**MIGRATE, "skipOnRollback": SKIP}), rt)
    [_, (name, call)] = rt.codepipeline.calls
    assert name == "PutJobFailureResult"
    assert call["failureDetails"]["message"].startswith(
        f"invoker error: cannot tell whether execution {EXECUTION} of shop-release is a "
        "rollback (codepipeline:GetPipelineExecution): "
    )
    assert rt.ecs.list_tasks(cluster=rt.document.cluster)["taskArns"] == []


def test_pipelines_run_cannot_pass_the_setting(rt: Runtime) -> None:
    answer = handle_direct({"action": "start", **MIGRATE, "skipOnRollback": SKIP}, rt)
    assert answer["ok"] is False and "unknown request keys: 'skipOnRollback'" in answer["refused"]
