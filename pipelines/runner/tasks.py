"""Starting, watching and stopping a runner's ECS task: the logic the invoker's two entry points
(the CodePipeline action and the direct call from `pipelines run`) share.

The ECS client is passed in; this module imports no AWS library.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from pipelines.runner import names
from pipelines.runner.allowlist import Admitted, Refused
from pipelines.runner.document import RunnersDocument

TASK_ARN = re.compile(
    r"arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:task/(?:[A-Za-z0-9_-]{1,255}/)?[A-Za-z0-9-]{1,64}"
)


class InvokerError(Exception):
    """The job could not be started or followed; the message says why."""


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
        if not TASK_ARN.fullmatch(started.task):
            raise InvokerError("the continuation token names no ECS task")
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


def start_task(
    ecs: Any,
    document: RunnersDocument,
    admitted: Admitted,
    *,
    now: float,
    environment: str | None = None,
    artifacts: Mapping[str, str] | None = None,
) -> Started:
    """Run the admitted argv as the runner's task on Fargate: the command, not a shell."""
    if admitted.on != "ecs":
        raise Refused(
            f"runner {admitted.runner!r} runs on CodeBuild: its steps are CodeBuild actions, "
            "not tasks the invoker starts"
        )
    if document.network is None:
        raise InvokerError("runners.json has no network, so no ECS task can be started")
    variables = {
        names.RUNNER_VARIABLE: admitted.runner,
        names.SCRIPT_VARIABLE: admitted.script,
    }
    if environment:
        variables[names.ENVIRONMENT_VARIABLE] = environment
    if artifacts:
        variables[names.ARTIFACTS_VARIABLE] = json.dumps(dict(artifacts), sort_keys=True)
    network = document.network
    response = ecs.run_task(
        cluster=document.cluster,
        taskDefinition=document.task_definition(admitted.runner),
        launchType="FARGATE",
        count=1,
        startedBy=names.STARTED_BY,
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": list(network.subnets),
                "securityGroups": list(network.security_groups),
                "assignPublicIp": "ENABLED" if network.assign_public_ip else "DISABLED",
            }
        },
        overrides={
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
        },
    )
    failures = response.get("failures") or []
    tasks = response.get("tasks") or []
    if failures or not tasks:
        reasons = "; ".join(
            f"{f.get('reason', '?')} {f.get('detail', '')}".strip() for f in failures
        )
        raise InvokerError(f"ECS did not start the task: {reasons or 'no task returned'}")
    arn = tasks[0]["taskArn"]
    task_id = arn.rsplit("/", 1)[-1]
    return Started(
        task=arn,
        runner=admitted.runner,
        script=admitted.script,
        log_group=document.log_group,
        log_stream=names.log_stream(admitted.runner, task_id),
        started=now,
        deadline=now + admitted.max_wait_minutes * 60,
        max_wait_minutes=admitted.max_wait_minutes,
    )


def describe_task(ecs: Any, document: RunnersDocument, task: str) -> TaskState:
    """The task's state, only if it is a runner task of this document's cluster."""
    if not isinstance(task, str) or not TASK_ARN.fullmatch(task):
        raise Refused("task must be an ECS task ARN")
    response = ecs.describe_tasks(cluster=document.cluster, tasks=[task])
    found = [t for t in response.get("tasks", []) if t.get("taskArn") == task]
    if not found or found[0].get("startedBy") != names.STARTED_BY:
        raise InvokerError(f"no runner task {task} in cluster {document.cluster}")
    info = found[0]
    container = next(
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


def stop_task(ecs: Any, document: RunnersDocument, task: str, reason: str) -> None:
    describe_task(ecs, document, task)  # refuses anything but our own tasks
    ecs.stop_task(cluster=document.cluster, task=task, reason=reason[:255])


def _runner_of(info: Mapping[str, Any]) -> str:
    """The runner a task runs, from the environment the invoker gave its container."""
    for override in info.get("overrides", {}).get("containerOverrides", []):
        for variable in override.get("environment", []):
            if variable.get("name") == names.RUNNER_VARIABLE:
                return variable.get("value", "")
    return ""
