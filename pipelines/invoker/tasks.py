"""Starting, watching and stopping a runner's ECS task: the logic the invoker's two entry points
(the CodePipeline action and the direct call from `pipelines run`) share.

A task runs in a `Place`: the toolchain's runner cluster, or an environment's own (a target of
runners.json, in its account). The clients are passed in; this module imports no AWS library.

A task started for a CodePipeline job is named by the job: its `startedBy` is
`pipelines-runner/<job id>` (job_started_by) and its RunTask `clientToken` (ECS's idempotency
token) is the job id, so that a second delivery of the same call finds the task (job_tasks, by
ListTasks on startedBy) instead of starting another, and two deliveries racing to RunTask get
one task from ECS (or a ConflictException naming it, raised here as JobTaskExists).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from pipelines import naming, patterns
from pipelines.invoker import names
from pipelines.invoker.allowlist import Admitted, Refused
from pipelines.invoker.defaults import RELEASE_IMAGE
from pipelines.invoker.document import ENVIRONMENT, Network

TASK_ARN = re.compile(
    r"arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:task/(?:[A-Za-z0-9_-]{1,255}/)?[A-Za-z0-9-]{1,64}"
)
TASK_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
HEX_DIGEST = re.compile(patterns.DIGEST)
# A CodePipeline job id (a UUID), as far as it may name a task: ECS takes at most 64 characters
# as a clientToken, and letters, digits, `-`, `_` and `/` in startedBy (128 at most, the prefix
# `pipelines-runner/` included).
JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# DescribeTasks takes at most this many tasks per call.
MAX_DESCRIBE = 100
# ECS refuses a run_task whose `overrides` document is longer than this.
MAX_OVERRIDES = 8192
# What register_task_definition accepts of what describe_task_definition returns (its input
# shape, less `tags`: copying tags would need ecs:TagResource, and a release revision needs
# none). Read from the client's own model when it has one, so that a field added to ECS later is
# not dropped; tests/invoker/test_targets.py checks this list against botocore's model.
REGISTER_FIELDS = (
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "containerDefinitions",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
    "inferenceAccelerators",
    "ephemeralStorage",
    "runtimePlatform",
    "enableFaultInjection",
    "trustedExecutionConfiguration",
)


class InvokerError(Exception):
    """The job could not be started or followed; the message says why."""


class JobTaskExists(InvokerError):
    """RunTask refused the job's clientToken: ECS already ran a task for it (with other
    parameters, e.g. artifact links signed at another second). `tasks` are the ones ECS named."""

    def __init__(self, job_id: str, tasks: Sequence[str]) -> None:
        super().__init__(f"ECS already ran a task for job {job_id}: {', '.join(tasks) or '?'}")
        self.tasks = tuple(tasks)


@dataclass(frozen=True)
class Clients:
    """The clients a place needs: ECS, CloudWatch Logs, and CloudFormation (for a target's
    runner stack). Anything with these attributes will do."""

    ecs: Any
    logs: Any
    cloudformation: Any = None


@dataclass(frozen=True)
class Place:
    """Where jobs run and log: an ECS cluster and its log group, with clients that reach them.

    `target` is the environment whose own runner this is (runners.json `targets`), or None for
    the toolchain's runner cluster.
    """

    clients: Any  # Clients, or the invoker's TargetClients (made on first use)
    cluster: str
    log_group: str
    region: str
    target: str | None = None

    @property
    def ecs(self) -> Any:
        return self.clients.ecs

    @property
    def logs(self) -> Any:
        return self.clients.logs

    @property
    def cloudformation(self) -> Any:
        return self.clients.cloudformation


@dataclass(frozen=True)
class Started:
    """A task the invoker started; also the CodePipeline continuation token, as JSON."""

    task: str
    runner: str
    script: str
    log_group: str
    log_stream: str
    started: float
    deadline: float
    max_wait_minutes: int
    # The target (environment name) the task runs in; None: the toolchain's cluster. Tokens
    # written before targets existed have none, and still mean the toolchain.
    target: str | None = None

    @property
    def task_id(self) -> str:
        return self.task.rsplit("/", 1)[-1]

    def token(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_token(cls, text: str) -> Started:
        try:
            data = json.loads(text)
            started = cls(**data)
        except (TypeError, ValueError):
            raise InvokerError("the continuation token is not one the invoker wrote") from None
        if not isinstance(started.task, str) or not TASK_ARN.fullmatch(started.task):
            raise InvokerError("the continuation token names no ECS task")
        if started.target is not None and (
            not isinstance(started.target, str) or not ENVIRONMENT.fullmatch(started.target)
        ):
            raise InvokerError("the continuation token names no environment")
        return started


@dataclass(frozen=True)
class TaskState:
    status: str  # ECS lastStatus: PROVISIONING ... RUNNING ... STOPPED
    exit_code: int | None  # the job container's, once stopped
    stop_reason: str
    runner: str

    @property
    def stopped(self) -> bool:
        return self.status == "STOPPED"

    @property
    def succeeded(self) -> bool:
        return self.stopped and self.exit_code == 0


def check_release_image(
    runner: str, runner_image: str, image: str | None, release_repositories: tuple[str, ...]
) -> str | None:
    """The image a request may run: a digest of one of the release repositories (one per image
    of the app) for a `release` runner (required), nothing for any other runner (its image is in
    its task definition)."""
    if runner_image != RELEASE_IMAGE:
        if image is not None:
            raise Refused(
                f"runner {runner!r} runs its own image; `image` is only for runners of the "
                "release image"
            )
        return None
    if image is None:
        raise Refused(
            f"runner {runner!r} runs the release image: the request needs `image`, the image "
            "being promoted as <repository>@sha256:<digest>"
        )
    if not release_repositories:
        raise Refused("runners.json names no release_repository, so no release image is accepted")
    repository, at, digest = image.partition("@")
    if not at or repository not in release_repositories or not HEX_DIGEST.fullmatch(digest):
        shown = image if len(image) <= 200 else image[:200] + "..."
        expected = " or ".join(release_repositories)
        raise Refused(f"image {shown!r} is not {expected}@sha256:<64 lowercase hex digits>")
    return image


def security_group(place: Place, stack: str) -> str:
    """The runner security group of a target, from its runner stack's output."""
    where = f"in {place.region}" + (f" (environment {place.target})" if place.target else "")
    try:
        stacks = place.cloudformation.describe_stacks(StackName=stack).get("Stacks", [])
    except Exception as error:
        if error_code(error) != "ValidationError":  # CloudFormation's "Stack ... does not exist"
            raise
        stacks = []
    if not stacks:
        raise InvokerError(f"no stack {stack} {where}: deploy {stack} first")
    for output in stacks[0].get("Outputs") or []:
        if output.get("OutputKey") == naming.RUNNER_SECURITY_GROUP_OUTPUT and output.get(
            "OutputValue"
        ):
            group: str = output["OutputValue"]
            return group
    status = stacks[0].get("StackStatus", "?")
    raise InvokerError(
        f"stack {stack} {where} ({status}) has no output "
        f"{naming.RUNNER_SECURITY_GROUP_OUTPUT}: deploy {stack} first"
    )


def release_revision(ecs: Any, family: str, image: str) -> str:
    """A revision of `family` that runs `image` in its job container, all else the same: the
    latest revision if it already does, else a new one registered from it."""
    described = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
    containers = [dict(c) for c in described.get("containerDefinitions", [])]
    job = [c for c in containers if c.get("name") == names.CONTAINER]
    if not job:
        raise InvokerError(f"task definition {family} has no container named {names.CONTAINER}")
    if job[0].get("image") == image:
        latest: str = described["taskDefinitionArn"]
        return latest
    job[0]["image"] = image
    fields = _register_fields(ecs)
    request = {k: described[k] for k in fields if described.get(k) not in (None, [], {})}
    request["containerDefinitions"] = containers
    registered = ecs.register_task_definition(**request)["taskDefinition"]
    arn: str = registered["taskDefinitionArn"]
    return arn


def job_started_by(job_id: str) -> str:
    """The `startedBy` of the task a CodePipeline job runs: names.STARTED_BY and the job id."""
    if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
        raise InvokerError(f"job id {str(job_id)[:80]!r} cannot name an ECS task")
    return f"{names.STARTED_BY}/{job_id}"


def is_runner_task(started_by: Any) -> bool:
    """Whether a task's startedBy is one the invoker gives: its own, or a job's."""
    return isinstance(started_by, str) and (
        started_by == names.STARTED_BY or started_by.startswith(f"{names.STARTED_BY}/")
    )


def job_tasks(
    place: Place, job_id: str, tasks: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """The tasks started for a CodePipeline job in this place, oldest first (there is one at
    most, unless ECS failed its idempotency token): `tasks` if given (ARNs ECS named), else
    what ListTasks finds by startedBy, running or stopped. ECS lists a stopped task for at least
    an hour after it stopped, not forever."""
    started_by = job_started_by(job_id)
    if tasks is None:
        found: list[str] = []
        # RUNNING before STOPPED: a task that stops between the two calls is still seen once.
        for desired in ("RUNNING", "STOPPED"):
            request = {"cluster": place.cluster, "startedBy": started_by, "desiredStatus": desired}
            while True:
                page = place.ecs.list_tasks(**request)
                found.extend(page.get("taskArns") or [])
                if not page.get("nextToken"):
                    break
                request["nextToken"] = page["nextToken"]
        tasks = found
    arns = [
        t
        for t in dict.fromkeys(tasks)
        if isinstance(t, str) and (TASK_ARN.fullmatch(t) or TASK_ID.fullmatch(t))
    ]
    described: list[dict[str, Any]] = []
    for at in range(0, len(arns), MAX_DESCRIBE):
        response = place.ecs.describe_tasks(
            cluster=place.cluster, tasks=arns[at : at + MAX_DESCRIBE]
        )
        described.extend(response.get("tasks") or [])
    mine = [t for t in described if t.get("startedBy") == started_by]
    return sorted(mine, key=lambda t: (_created(t) or 0.0, t.get("taskArn", "")))


def resume_task(
    place: Place, admitted: Admitted, info: Mapping[str, Any], *, now: float
) -> Started:
    """The Started of a task an earlier call started for the same job (a described task of
    job_tasks): its deadline counts from when ECS created it (`now` if ECS does not say)."""
    arn = info.get("taskArn", "")
    ran = (_runner_of(info), _variable_of(info, names.SCRIPT_VARIABLE))
    if ran != (admitted.runner, admitted.script):
        raise InvokerError(
            f"task {arn} of this job runs {ran[0]}.{ran[1]}, not "
            f"{admitted.runner}.{admitted.script}"
        )
    started = _created(info)
    return _started(admitted, place, arn, now if started is None else started)


def start_task(
    place: Place,
    admitted: Admitted,
    *,
    task_definition: str,
    network: Network | None,
    now: float,
    environment: str | None = None,
    artifacts: Mapping[str, str] | None = None,
    job_id: str | None = None,
) -> Started:
    """Run the admitted argv as the runner's task on Fargate: the command, not a shell.

    With `job_id` (a CodePipeline job's), the task is named by the job (job_started_by) and the
    job id is RunTask's idempotency token; a ConflictException (the token was used with other
    parameters) raises JobTaskExists with the tasks ECS names."""
    if admitted.on != "ecs":
        raise Refused(
            f"runner {admitted.runner!r} runs on CodeBuild: its steps are CodeBuild actions, "
            "not tasks the invoker starts"
        )
    if network is None:
        raise InvokerError("runners.json has no network, so no ECS task can be started")
    variables = {
        names.RUNNER_VARIABLE: admitted.runner,
        names.SCRIPT_VARIABLE: admitted.script,
    }
    if environment:
        variables[names.ENVIRONMENT_VARIABLE] = environment
    if artifacts:
        variables[names.ARTIFACTS_VARIABLE] = json.dumps(dict(artifacts), sort_keys=True)
    overrides = {
        "cpu": str(admitted.cpu),
        "memory": str(admitted.memory),
        "containerOverrides": [
            {
                "name": names.CONTAINER,
                "command": list(admitted.argv),
                # The container gets the whole task size, whatever the definition says.
                "cpu": admitted.cpu,
                "memory": admitted.memory,
                "environment": [{"name": k, "value": v} for k, v in sorted(variables.items())],
            }
        ],
    }
    size = len(json.dumps(overrides, separators=(",", ":")))
    if size > MAX_OVERRIDES:
        raise InvokerError(
            f"the task's overrides (command and {len(variables)} variables) are {size} "
            f"characters; ECS takes at most {MAX_OVERRIDES}: pass fewer or shorter arguments"
        )
    request: dict[str, Any] = {"startedBy": names.STARTED_BY}
    if job_id is not None:
        request = {"startedBy": job_started_by(job_id), "clientToken": job_id}
    try:
        response = place.ecs.run_task(
            cluster=place.cluster,
            taskDefinition=task_definition,
            launchType="FARGATE",
            count=1,
            networkConfiguration={
                "awsvpcConfiguration": {
                    "subnets": list(network.subnets),
                    "securityGroups": list(network.security_groups),
                    "assignPublicIp": "ENABLED" if network.assign_public_ip else "DISABLED",
                }
            },
            overrides=overrides,
            **request,
        )
    except Exception as error:
        if job_id is None or error_code(error) != "ConflictException":
            raise
        named = (getattr(error, "response", None) or {}).get("resourceIds") or []
        raise JobTaskExists(job_id, [t for t in named if isinstance(t, str)]) from None
    failures = response.get("failures") or []
    tasks = response.get("tasks") or []
    if failures or not tasks:
        reasons = "; ".join(
            f"{f.get('reason', '?')} {f.get('detail', '')}".strip() for f in failures
        )
        raise InvokerError(f"ECS did not start the task: {reasons or 'no task returned'}")
    return _started(admitted, place, tasks[0]["taskArn"], now)


def _started(admitted: Admitted, place: Place, arn: str, started: float) -> Started:
    """What the invoker remembers of a job's task (in its continuation token)."""
    return Started(
        task=arn,
        runner=admitted.runner,
        script=admitted.script,
        log_group=place.log_group,
        log_stream=names.log_stream(admitted.runner, arn.rsplit("/", 1)[-1]),
        started=started,
        deadline=started + admitted.max_wait_minutes * 60,
        max_wait_minutes=admitted.max_wait_minutes,
        target=place.target,
    )


def task_arn(task: object) -> str:
    """`task`, a caller's value, if it is an ECS task ARN; Refused if not."""
    if not isinstance(task, str) or not TASK_ARN.fullmatch(task):
        raise Refused("task must be an ECS task ARN")
    return task


def describe_task(place: Place, task: object) -> TaskState:
    """The task's state, only if it is a runner task of this place's cluster."""
    task = task_arn(task)
    response = place.ecs.describe_tasks(cluster=place.cluster, tasks=[task])
    found = [t for t in response.get("tasks", []) if t.get("taskArn") == task]
    if not found or not is_runner_task(found[0].get("startedBy")):
        raise InvokerError(f"no runner task {task} in cluster {place.cluster}")
    info = found[0]
    container: Mapping[str, Any] = next(
        (c for c in info.get("containers", []) if c.get("name") == names.CONTAINER), {}
    )
    status = info.get("lastStatus", "UNKNOWN")
    # ECS reports an exit code only for a stopped container; ignore anything earlier.
    exit_code = container.get("exitCode") if status == "STOPPED" else None
    reasons = [info.get("stoppedReason", ""), container.get("reason", "")]
    return TaskState(
        status=status,
        exit_code=exit_code,
        stop_reason="; ".join(r for r in reasons if r),
        runner=_runner_of(info),
    )


def stop_task(place: Place, task: object, reason: str) -> None:
    task = task_arn(task)
    describe_task(place, task)  # refuses anything but our own tasks
    place.ecs.stop_task(cluster=place.cluster, task=task, reason=reason[:255])


def _runner_of(info: Mapping[str, Any]) -> str:
    """The runner a task runs, from the environment the invoker gave its container."""
    return _variable_of(info, names.RUNNER_VARIABLE)


def _variable_of(info: Mapping[str, Any], name: str) -> str:
    for override in (info.get("overrides") or {}).get("containerOverrides") or []:
        for variable in override.get("environment") or []:
            if variable.get("name") == name:
                value: str = variable.get("value", "")
                return value
    return ""


def _created(info: Mapping[str, Any]) -> float | None:
    """When ECS created a described task, in seconds since the epoch (boto3 parses it)."""
    created = info.get("createdAt")
    if isinstance(created, datetime):
        return created.timestamp()
    if isinstance(created, (int, float)) and not isinstance(created, bool):
        return float(created)
    return None


def _register_fields(ecs: Any) -> tuple[str, ...]:
    try:
        shape = ecs.meta.service_model.operation_model("RegisterTaskDefinition").input_shape
        return tuple(name for name in shape.members if name != "tags")
    except AttributeError:  # a test double
        return REGISTER_FIELDS


def error_code(error: Exception) -> str:
    """The AWS error code of a botocore ClientError ("" for anything else)."""
    response = getattr(error, "response", None) or {}
    code: str = response.get("Error", {}).get("Code", "")
    return code
