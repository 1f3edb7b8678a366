"""ECS lifecycle hooks: the invoker's answer to a hook event (see handler.py, Lifecycle hooks).

ECS calls an environment's hook function at a lifecycle stage of a service deployment; the
function forwards ECS's event to the invoker as `{"action": "hook", "event": <ECS's event>}`
and returns the answer to ECS: `{"hookStatus": "IN_PROGRESS" | "SUCCEEDED" | "FAILED",
"callBackDelay": seconds, "hookDetails": {...}}`
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/lambda-lifecycle-hooks.html).

The invoker cannot tell which account called it, so the event names only where it comes from:
its `hookDetails` (set per stage in the service's template) hold the environment, the service
and the stage. The invoker runs exactly the steps runners.json declares for that hook, in
order, each admitted again by the allow-list, and only if the event's `serviceArn` is that
service in the environment's account and region.

ECS passes the hookDetails of an IN_PROGRESS answer back on its next call; the invoker keeps
its state there (`pipelinesHook`: the step running and its task). A task is named by the
deployment (targetServiceRevisionArn), the stage and the step's index (hook_job_id), as a job's
task is named by its CodePipeline job id, so a repeated call never starts a second task for a
step: it resumes the one it finds.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from pipelines import naming
from pipelines.invoker.allowlist import Refused, parse_step
from pipelines.invoker.document import Target
from pipelines.invoker.tasks import InvokerError, Started

# ECS calls an IN_PROGRESS hook again after this many seconds (its default is 30).
CALLBACK_SECONDS = 30
STATE_KEY = "pipelinesHook"
# A service ARN in the long format (with its cluster) or the old short one.
SERVICE_ARN = re.compile(
    r"arn:aws[a-z-]*:ecs:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):service/"
    r"(?:[A-Za-z0-9_-]{1,255}/)?(?P<name>[A-Za-z0-9_-]{1,255})"
)
REVISION_ARN = re.compile(r"arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:service-revision/\S{1,1000}")


def hook_job_id(revision: str, stage: str, index: int) -> str:
    """The id a hook step's task is named by: one deployment's stage's step, whatever call."""
    digest = hashlib.sha256(f"{revision}\n{stage}\n{index}".encode()).hexdigest()
    return f"hook-{digest[:40]}"


def details_of(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event's hookDetails as an object (CloudFormation may hand them over as JSON text)."""
    details = event.get("hookDetails")
    if isinstance(details, str):
        try:
            details = json.loads(details)
        except ValueError:
            raise Refused("hookDetails is not JSON") from None
    if not isinstance(details, dict):
        raise Refused("the hook event has no hookDetails object")
    return details


def hook_steps(
    document_targets: Mapping[str, Target], app: str, event: Mapping[str, Any]
) -> tuple[str, str, str, tuple[str, ...]]:
    """(environment, service, stage, its declared steps) of a hook event; Refused unless the
    event's service is that environment's service, in its account and region."""
    details = details_of(event)
    environment, service, stage = (details.get(k) for k in ("environment", "service", "stage"))
    if not all(isinstance(v, str) and v for v in (environment, service, stage)):
        raise Refused("hookDetails must name the environment, service and stage")
    assert isinstance(environment, str) and isinstance(service, str) and isinstance(stage, str)
    target = document_targets.get(environment)
    if target is None:
        raise Refused(f"environment {environment[:64]!r} has no target in runners.json")
    steps = target.hooks.get(service, {}).get(stage)
    if not steps:
        raise Refused(f"{service[:64]} declares no hook at {stage[:64]} in {environment}")
    match = SERVICE_ARN.fullmatch(str(event.get("serviceArn", "")))
    expected = naming.service_name(app, environment, service)
    if (
        match is None
        or match["account"] != target.account
        or match["region"] != target.region
        or match["name"] != expected
    ):
        raise Refused(
            f"serviceArn {str(event.get('serviceArn'))[:200]!r} is not {expected} in account "
            f"{target.account}, region {target.region}"
        )
    if not REVISION_ARN.fullmatch(str(event.get("targetServiceRevisionArn", ""))):
        raise Refused("the hook event has no targetServiceRevisionArn")
    return environment, service, stage, steps


def request_of(text: str, environment: str) -> dict[str, Any]:
    """A declared hook step as the request the invoker admits and starts."""
    request = parse_step(text)
    return {
        "runner": request.runner,
        "script": request.script,
        "args": list(request.args),
        "environment": environment,
    }


def answer(status: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A hook answer; IN_PROGRESS carries the state ECS hands back on its next call."""
    found: dict[str, Any] = {"hookStatus": status}
    if status == "IN_PROGRESS":
        found["callBackDelay"] = CALLBACK_SECONDS
        found["hookDetails"] = dict(details or {})
    return found


def state_of(details: Mapping[str, Any]) -> tuple[int, Started] | None:
    """The step running and its task, from an earlier IN_PROGRESS answer (None: none yet)."""
    state = details.get(STATE_KEY)
    if state is None:
        return None
    if not isinstance(state, dict) or not isinstance(state.get("step"), int):
        raise InvokerError("the hook's state is not one the invoker wrote")
    return state["step"], Started.from_token(json.dumps(state.get("task")))


def with_state(details: Mapping[str, Any], step: int, started: Started) -> dict[str, Any]:
    return {**details, STATE_KEY: {"step": step, "task": json.loads(started.token())}}
