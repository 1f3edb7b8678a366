"""CloudFormation through change sets: a stack as it is, what would change, and carrying it out.

Nothing here decides what to deploy; deploy, diff and rollback do. This module knows the stack
states, how to wait, and how to read a failure out of the stack events.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from pipelines.aws.errors import OperationError, error_code, error_message, explain

POLL_SECONDS = 5.0  # between reads of a change set or of stack events; tests set 0
# Set on Ctrl-C: every thread that is waiting on CloudFormation stops at its next poll.
STOP = threading.Event()
CHANGE_SET_TIMEOUT = 30 * 60
STACK_TIMEOUT = 4 * 3600  # ECS waits for healthy tasks; the circuit breaker decides well before

# AWS says the first when a change set would change nothing; moto raises the second.
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
SUCCEEDED = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}
STACK_TYPE = "AWS::CloudFormation::Stack"
CANCELLED = ("Resource creation cancelled", "Resource update cancelled")

EventHandler = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class Live:
    """A stack as CloudFormation has it now."""

    name: str
    stack_id: str
    status: str
    parameters: dict[str, str]
    outputs: dict[str, str]
    updated: datetime | None
    reason: str = ""


@dataclass(frozen=True)
class Change:
    action: str  # Add | Modify | Remove | Import | Dynamic
    logical_id: str
    resource_type: str
    replacement: str  # True | False | Conditional, or "" where it does not apply


@dataclass(frozen=True)
class ChangeSet:
    stack: str
    stack_id: str
    arn: str
    kind: str  # CREATE | UPDATE
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class Failure:
    logical_id: str
    resource_type: str
    status: str
    reason: str

    def __str__(self) -> str:
        return f"{self.logical_id} ({self.resource_type}) {self.status}: {self.reason}"


@dataclass
class Outcome:
    stack: str
    ok: bool
    status: str
    failures: list[Failure] = field(default_factory=list)


def in_progress(status: str) -> bool:
    return status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS"


def describe(cfn: Any, name: str) -> Live | None:
    """The stack named `name`, or None if there is none (deleted stacks do not count)."""
    try:
        [stack] = cfn.describe_stacks(StackName=name)["Stacks"]
    except ClientError as error:
        if error_code(error) == "ValidationError" and "does not exist" in error_message(error):
            return None
        raise
    return Live(
        name=stack["StackName"],
        stack_id=stack["StackId"],
        status=stack["StackStatus"],
        parameters={
            p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])
        },
        outputs={o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", [])},
        updated=stack.get("LastUpdatedTime") or stack.get("CreationTime"),
        reason=stack.get("StackStatusReason", ""),
    )


def blocked(live: Live) -> str | None:
    """Why this stack cannot take a change set now, or None if it can."""
    name, status = live.name, live.status
    if status == "UPDATE_ROLLBACK_FAILED":
        return (
            f"stack {name} is UPDATE_ROLLBACK_FAILED: CloudFormation could not roll back a "
            "failed update. Fix the cause it names in the stack events, then run `aws "
            f"cloudformation continue-update-rollback --stack-name {name}` and re-run"
        )
    if status in ("ROLLBACK_FAILED", "DELETE_FAILED", "IMPORT_ROLLBACK_FAILED"):
        return (
            f"stack {name} is {status}: delete it once the resource named in its events is "
            "dealt with (`aws cloudformation delete-stack`), then re-run"
        )
    if in_progress(status):
        return (
            f"stack {name} is {status}: another operation (perhaps the pipeline) is changing it; "
            "wait for it to finish and re-run"
        )
    return None


def change_set_type(live: Live | None) -> str:
    """CREATE for a stack that never existed or was never executed, UPDATE otherwise.

    A stack whose creation rolled back (ROLLBACK_COMPLETE) must be deleted first: see recreate.
    """
    if live is None or live.status == "REVIEW_IN_PROGRESS":
        return "CREATE"
    return "UPDATE"


def needs_recreate(live: Live | None) -> bool:
    """A failed creation leaves a stack that can only be deleted (it holds no resources)."""
    return live is not None and live.status == "ROLLBACK_COMPLETE"


def create_change_set(
    cfn: Any,
    stack: str,
    kind: str,
    name: str,
    *,
    template: dict[str, Any],
    parameters: list[dict[str, Any]],
    capabilities: tuple[str, ...],
    tags: dict[str, str],
    description: str,
) -> ChangeSet | None:
    """Create a change set and wait for it. None when it would change nothing (and is gone)."""
    request: dict[str, Any] = {
        "StackName": stack,
        "ChangeSetName": name,
        "ChangeSetType": kind,
        "Parameters": parameters,
        "Capabilities": list(capabilities),
        "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())],
        "Description": description[:1024],
        **template,
    }
    try:
        created = cfn.create_change_set(**request)
    except ClientError as error:
        if any(text in error_message(error) for text in NO_CHANGES):
            return None
        raise
    arn, stack_id = created["Id"], created["StackId"]
    deadline = time.monotonic() + CHANGE_SET_TIMEOUT
    while True:
        described = _describe_change_set(cfn, arn)
        status = described["Status"]
        if status == "CREATE_COMPLETE":
            return ChangeSet(stack, stack_id, arn, kind, tuple(described["Changes"]))
        if status == "FAILED":
            reason = described.get("StatusReason", "")
            discard(cfn, ChangeSet(stack, stack_id, arn, kind, ()))
            if any(text in reason for text in NO_CHANGES):
                return None
            raise OperationError(f"{stack}: CloudFormation could not plan the change: {reason}")
        if time.monotonic() > deadline:
            raise OperationError(f"{stack}: change set {name} still {status} after 30 minutes")
        _pause()


def _describe_change_set(cfn: Any, arn: str) -> dict[str, Any]:
    """describe_change_set with every page of Changes, as Change records."""
    pages, token = [], None
    while True:
        page = cfn.describe_change_set(ChangeSetName=arn, **({"NextToken": token} if token else {}))
        pages.append(page)
        token = page.get("NextToken")
        if not token:
            break
    changes = []
    for page in pages:
        for item in page.get("Changes", []):
            change = item.get("ResourceChange", {})
            changes.append(
                Change(
                    action=change.get("Action", ""),
                    logical_id=change.get("LogicalResourceId", ""),
                    resource_type=change.get("ResourceType", ""),
                    replacement=change.get("Replacement", ""),
                )
            )
    return {**pages[-1], "Changes": changes}


def discard(cfn: Any, change_set: ChangeSet) -> None:
    """Delete an unexecuted change set; for a new stack, also the empty stack it made."""
    cfn.delete_change_set(ChangeSetName=change_set.arn)
    if change_set.kind == "CREATE":
        live = describe(cfn, change_set.stack_id)
        if live is not None and live.status == "REVIEW_IN_PROGRESS":
            cfn.delete_stack(StackName=change_set.stack_id)


def delete_failed_creation(cfn: Any, live: Live) -> None:
    """Delete a stack left in ROLLBACK_COMPLETE and wait until it is gone."""
    cfn.delete_stack(StackName=live.stack_id)
    deadline = time.monotonic() + CHANGE_SET_TIMEOUT
    while True:
        status = _status(cfn, live.stack_id)
        if status == "DELETE_COMPLETE":
            return
        if status == "DELETE_FAILED" or time.monotonic() > deadline:
            raise OperationError(
                f"{live.name}: could not delete the stack left by a failed creation ({status}); "
                "delete it in the console and re-run"
            )
        _pause()


def execute(cfn: Any, change_set: ChangeSet, on_event: EventHandler) -> Outcome:
    """Execute a change set and follow the stack's events until CloudFormation is done.

    Done means a stack-level event with a final status: reading the stack status alone could
    still show the state from before the execution started.
    """
    stack, stack_id = change_set.stack, change_set.stack_id
    seen = {e["EventId"] for e in _newest_events(cfn, stack_id)}
    try:
        cfn.execute_change_set(ChangeSetName=change_set.arn)
    except ClientError as error:
        return Outcome(stack, False, "EXECUTE_FAILED", [_call_failure(stack, error)])
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + STACK_TIMEOUT
    final = None
    while final is None:
        for event in _new_events(cfn, stack_id, seen):
            events.append(event)
            on_event(stack, event)
            if _is_stack_event(event, stack) and not event["ResourceStatus"].endswith(
                "_IN_PROGRESS"
            ):
                final = event["ResourceStatus"]
        if final is None:
            if time.monotonic() > deadline:
                status = _status(cfn, stack_id)
                reason = f"still {status} after {STACK_TIMEOUT // 3600} hours"
                return Outcome(stack, False, status, [Failure(stack, STACK_TYPE, status, reason)])
            _pause()
    status = _status(cfn, stack_id)
    if status in SUCCEEDED:
        return Outcome(stack, True, status)
    return Outcome(stack, False, status, root_causes(stack, events))


def root_causes(stack: str, events: list[dict[str, Any]]) -> list[Failure]:
    """The failed resources in the order they failed, without the cancellations they caused.

    The stack's own event is used only when no resource says more.
    """
    failed = [e for e in events if e.get("ResourceStatus", "").endswith("_FAILED")]
    own = [e for e in failed if not _is_stack_event(e, stack)]
    causes = [e for e in own if not e.get("ResourceStatusReason", "").startswith(CANCELLED)]
    chosen = causes or own or failed
    if not chosen:
        chosen = [e for e in events if _is_stack_event(e, stack) and e.get("ResourceStatusReason")]
    return [
        Failure(
            e.get("LogicalResourceId", stack),
            e.get("ResourceType", STACK_TYPE),
            e.get("ResourceStatus", ""),
            e.get("ResourceStatusReason", "no reason given"),
        )
        for e in chosen
    ]


def _call_failure(stack: str, error: ClientError) -> Failure:
    return Failure(stack, STACK_TYPE, "EXECUTE_FAILED", str(explain(error)))


def _is_stack_event(event: dict[str, Any], stack: str) -> bool:
    return event.get("ResourceType") == STACK_TYPE and event.get("LogicalResourceId") == stack


def _status(cfn: Any, stack_id: str) -> str:
    live = describe(cfn, stack_id)
    return live.status if live else "DELETE_COMPLETE"


def _newest_events(cfn: Any, stack_id: str) -> list[dict[str, Any]]:
    try:
        return cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
    except ClientError as error:
        if "does not exist" in error_message(error):
            return []
        raise


def _new_events(cfn: Any, stack_id: str, seen: set[str]) -> list[dict[str, Any]]:
    """Events not seen before, oldest first. Pages are newest first: read until a seen one."""
    fresh: list[dict[str, Any]] = []
    token = None
    while True:
        page = cfn.describe_stack_events(
            StackName=stack_id, **({"NextToken": token} if token else {})
        )
        for event in page["StackEvents"]:
            if event["EventId"] in seen:
                token = None
                break
            fresh.append(event)
        else:
            token = page.get("NextToken")
        if not token:
            break
    seen.update(e["EventId"] for e in fresh)
    return list(reversed(fresh))


def _pause() -> None:
    if STOP.wait(POLL_SECONDS):
        raise OperationError("interrupted; CloudFormation carries on with what it started")


def pending_release(cfn: Any, stack_id: str, change_set: str) -> bool:
    """Whether the pipeline's change set for this stack waits to be applied (after approval)."""
    summaries = cfn.list_change_sets(StackName=stack_id).get("Summaries", [])
    return any(
        s.get("ChangeSetName") == change_set and s.get("ExecutionStatus") == "AVAILABLE"
        for s in summaries
    )


def now_stamp() -> str:
    """A change set name suffix: letters, digits and hyphens only."""
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
