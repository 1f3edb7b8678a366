"""CloudFormation through change sets: a stack as it is, what would change, and carrying it out.

Nothing here decides what to deploy; deploy, diff, rollback and the container jobs
(`python -m pipelines.jobs cloudformation plan|apply`) do. This module is the one place that
creates a change set and waits for it, tells "no changes" from a failure, executes it and
follows the stack until CloudFormation is done, and reads a failure out of the stack events.

Failures are read from the fields AWS gives them: the ClientError's error code, a change set's
Status, ExecutionStatus and StatusReason, a stack event's ResourceStatus. Two things AWS says
in text only are matched here and nowhere else: an empty change set (`says_no_changes`) and a
stack that does not exist (`_stack_missing`).

Every wait is bounded (`timeout`, seconds; `delay` between reads, POLL_SECONDS if None) and
ends in an OperationError (`TimedOut`) that names the stack and what to look at.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from pipelines.aws.errors import OperationError, error_code, error_message, explain

POLL_SECONDS = 5.0  # between reads of a change set or of stack events; tests set 0
# Set on Ctrl-C: every thread that is waiting on CloudFormation stops at its next poll.
STOP = threading.Event()
# The bounds of the waits, in seconds. CloudFormation plans a change set in seconds to minutes
# (botocore's own ChangeSetCreateComplete waiter gives up after 120 reads 30 s apart).
CHANGE_SET_TIMEOUT = 30 * 60
CHANGE_SET_DELETE_TIMEOUT = 5 * 60  # a deleted change set is gone within seconds
DELETE_TIMEOUT = 30 * 60  # a stack a failed creation left holds no resources
STACK_TIMEOUT = 4 * 3600  # ECS waits for healthy tasks; the circuit breaker decides well before

# What CloudFormation says, in a FAILED change set's StatusReason, when the change set would
# change nothing. AWS gives no status or code of its own for this case: the StatusReason "shows
# the error message" (DescribeChangeSet, StatusReason:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeChangeSet.html).
# The text is "The submitted information didn't contain changes. Submit different information to
# create a change set."; with a template Transform it is "No updates are to be performed.",
# which is also what plain moto raises from CreateChangeSet as a ValidationError (the embedded
# AWS records the FAILED change set as CloudFormation does: pipelines/local/changesets.py).
# The AWS CLI's `cloudformation deploy` and the CDK match the same two texts.
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
SUCCEEDED = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}
STACK_TYPE = "AWS::CloudFormation::Stack"
CANCELLED = ("Resource creation cancelled", "Resource update cancelled")
# A change set's Status while CloudFormation is still working on it.
PLANNING = {"CREATE_PENDING", "CREATE_IN_PROGRESS"}
# Why a planned change set cannot be executed, by its ExecutionStatus.
NOT_EXECUTABLE = {
    "OBSOLETE": "the stack has changed since it was planned; plan again",
    "EXECUTE_IN_PROGRESS": "it is being executed; follow the stack's events",
    "EXECUTE_COMPLETE": "it has been executed already",
    "EXECUTE_FAILED": "its execution failed; the stack's events say why",
}
# DescribeChangeSet's error for a change set that does not exist (botocore's
# ChangeSetNotFoundException).
CHANGE_SET_NOT_FOUND = "ChangeSetNotFound"

EventHandler = Callable[[str, dict[str, Any]], None]
T = TypeVar("T")


class TimedOut(OperationError):
    """A wait on CloudFormation ran past its bound. CloudFormation carries on regardless."""


class ChangeSetFailed(OperationError):
    """CloudFormation could not plan a change set (Status FAILED for a reason other than no
    changes). `change_set` is what DescribeChangeSet said, `reason` its StatusReason."""

    def __init__(self, message: str, change_set: Described) -> None:
        super().__init__(message)
        self.change_set = change_set
        self.reason = change_set.reason


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
    """A planned change set with changes, ready to execute."""

    stack: str
    stack_id: str
    arn: str
    kind: str  # CREATE | UPDATE
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class Described:
    """A change set as DescribeChangeSet has it, with every page of its changes."""

    name: str
    arn: str  # "" only where plain moto refused to make a change set that changes nothing
    stack: str
    stack_id: str
    status: str  # CREATE_PENDING | CREATE_IN_PROGRESS | CREATE_COMPLETE | DELETE_* | FAILED
    execution_status: str  # UNAVAILABLE | AVAILABLE | EXECUTE_* | OBSOLETE
    reason: str
    changes: tuple[Change, ...]

    @property
    def no_changes(self) -> bool:
        """CloudFormation found nothing to change: FAILED, and says so."""
        return self.status == "FAILED" and says_no_changes(self.reason)

    @property
    def executable(self) -> bool:
        return self.status == "CREATE_COMPLETE" and self.execution_status == "AVAILABLE"

    def why_not_executable(self) -> str:
        """Why ExecuteChangeSet would refuse it, and what to do ("" if it would not)."""
        if self.executable:
            return ""
        if self.status in PLANNING:
            why = "CloudFormation is still planning it; wait and re-run"
        elif self.status == "FAILED":
            why = f"CloudFormation could not plan it: {self.reason or 'no reason given'}"
        elif self.status.startswith("DELETE"):
            why = "it is being deleted; plan again"
        else:
            why = NOT_EXECUTABLE.get(self.execution_status, "it cannot be executed")
        return (
            f"change set {self.name} of stack {self.stack} is "
            f"{self.status}/{self.execution_status}: {why}"
        )

    def change_set(self, kind: str = "UPDATE") -> ChangeSet:
        return ChangeSet(self.stack, self.stack_id, self.arn, kind, self.changes)


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


def says_no_changes(reason: str) -> bool:
    """Whether a change set's StatusReason (or moto's error) says there is nothing to change.

    The one place that reads this from text: see NO_CHANGES for why and where AWS says it.
    """
    return any(text in reason for text in NO_CHANGES)


def in_progress(status: str) -> bool:
    return status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS"


def describe(cfn: Any, name: str) -> Live | None:
    """The stack named `name`, or None if there is none (deleted stacks do not count)."""
    try:
        [stack] = cfn.describe_stacks(StackName=name)["Stacks"]
    except ClientError as error:
        if _stack_missing(error):
            return None
        raise
    return live_of(stack)


def live_of(stack: dict[str, Any]) -> Live:
    """A stack of a DescribeStacks answer."""
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


# Change sets ---------------------------------------------------------------------------------


def create_change_set(
    cfn: Any,
    stack: str,
    kind: str,
    name: str,
    *,
    template: dict[str, Any],
    parameters: list[dict[str, Any]],
    capabilities: tuple[str, ...],
    tags: Mapping[str, str] | None,
    description: str,
    role_arn: str | None = None,
    timeout: float = CHANGE_SET_TIMEOUT,
    delay: float | None = None,
) -> ChangeSet | None:
    """Create a change set and wait for it. None when it would change nothing (and is gone).

    A change set CloudFormation could not plan is deleted too, and ChangeSetFailed raised.
    """
    try:
        planned = plan_change_set(
            cfn,
            stack,
            kind,
            name,
            template=template,
            parameters=parameters,
            capabilities=capabilities,
            tags=tags,
            description=description,
            role_arn=role_arn,
            timeout=timeout,
            delay=delay,
        )
    except ChangeSetFailed as failed:
        discard(cfn, failed.change_set.change_set(kind))
        raise
    if planned.no_changes:
        if planned.arn:
            discard(cfn, planned.change_set(kind))
        return None
    return planned.change_set(kind)


def plan_change_set(
    cfn: Any,
    stack: str,
    kind: str,
    name: str,
    *,
    template: dict[str, Any],
    parameters: list[dict[str, Any]],
    capabilities: tuple[str, ...],
    tags: Mapping[str, str] | None = None,
    description: str,
    role_arn: str | None = None,
    timeout: float = CHANGE_SET_TIMEOUT,
    delay: float | None = None,
) -> Described:
    """Create a change set and wait (at most `timeout` seconds) until CloudFormation has planned it.

    Returns it as described, `no_changes` set when it would change nothing; it is left in place
    either way (an empty one is FAILED and cannot be executed). Raises ChangeSetFailed when
    CloudFormation could not plan it, TimedOut when it is still being planned at the bound.
    `template` is TemplateBody, TemplateURL or UsePreviousTemplate; `tags` None leaves the
    stack's tags as they are.
    """
    request: dict[str, Any] = {
        "StackName": stack,
        "ChangeSetName": name,
        "ChangeSetType": kind,
        "Parameters": parameters,
        "Capabilities": list(capabilities),
        "Description": description[:1024],
        **template,
    }
    if tags is not None:
        request["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
    if role_arn:
        request["RoleARN"] = role_arn
    try:
        created = cfn.create_change_set(**request)
    except ClientError as error:
        # CloudFormation makes a FAILED change set for "no changes"; plain moto refuses the call.
        if error_code(error) == "ValidationError" and says_no_changes(error_message(error)):
            return Described(name, "", stack, "", "FAILED", "UNAVAILABLE", error_message(error), ())
        raise
    described = wait_for_change_set(cfn, stack, created["Id"], timeout=timeout, delay=delay)
    if described.status == "FAILED" and not described.no_changes:
        raise ChangeSetFailed(
            f"{stack}: CloudFormation could not plan the change: "
            f"{described.reason or 'no reason given'} (change set {name})",
            described,
        )
    return described


def wait_for_change_set(
    cfn: Any,
    stack: str,
    change_set: str,
    *,
    timeout: float = CHANGE_SET_TIMEOUT,
    delay: float | None = None,
) -> Described:
    """The change set once CloudFormation has finished planning it (any Status but PLANNING).

    Raises TimedOut, naming the stack and the change set, if it is still being planned after
    `timeout` seconds.
    """
    last: list[Described] = []

    def planned() -> Described | None:
        last[:] = [describe_change_set(cfn, change_set, stack)]
        return None if last[0].status in PLANNING else last[0]

    def late() -> str:
        name, status = (last[0].name, last[0].status) if last else (change_set, "unread")
        return (
            f"{stack}: change set {name} is still {status} after {_span(timeout)}: "
            "CloudFormation has not finished planning it. Look at it in the console (or `aws "
            f"cloudformation describe-change-set --stack-name {stack} --change-set-name "
            f"{change_set}`), delete it if it is stuck, and re-run"
        )

    return _poll(planned, timeout=timeout, delay=delay, late=late)


def describe_change_set(cfn: Any, change_set: str, stack: str | None = None) -> Described:
    """DescribeChangeSet with every page of Changes. `stack` is needed for a change set's name
    and not passed with its ARN (so that an ARN is found whichever stack it belongs to)."""
    lookup: dict[str, str] = {"ChangeSetName": change_set}
    if stack and not change_set.startswith("arn:"):
        lookup["StackName"] = stack
    pages, token = [], None
    while True:
        page = cfn.describe_change_set(**lookup, **({"NextToken": token} if token else {}))
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
    last = pages[-1]
    return Described(
        name=last.get("ChangeSetName", change_set),
        arn=last.get("ChangeSetId", change_set),
        stack=last.get("StackName", stack or ""),
        stack_id=last.get("StackId", ""),
        status=last.get("Status", ""),
        execution_status=last.get("ExecutionStatus", ""),
        reason=last.get("StatusReason", ""),
        changes=tuple(changes),
    )


def find_change_set(cfn: Any, stack: str, change_set: str) -> Described | None:
    """The stack's change set of that name or ARN, or None if there is none."""
    try:
        return describe_change_set(cfn, change_set, stack)
    except ClientError as error:
        if _change_set_missing(error):
            return None
        raise


def remove_change_set(
    cfn: Any,
    stack: str,
    name: str,
    *,
    timeout: float = CHANGE_SET_DELETE_TIMEOUT,
    delay: float | None = None,
) -> None:
    """Delete the stack's change set of that name if there is one, and wait until it is gone
    (a change set of the same name cannot be created before)."""
    if find_change_set(cfn, stack, name) is None:
        return
    cfn.delete_change_set(StackName=stack, ChangeSetName=name)

    def gone() -> bool | None:
        return True if find_change_set(cfn, stack, name) is None else None

    def late() -> str:
        return (
            f"{stack}: change set {name} is still there {_span(timeout)} after it was deleted; "
            "delete it in the console and re-run"
        )

    _poll(gone, timeout=timeout, delay=delay, late=late)


def discard(cfn: Any, change_set: ChangeSet) -> None:
    """Delete an unexecuted change set; for a new stack, also the empty stack it made."""
    cfn.delete_change_set(ChangeSetName=change_set.arn)
    if change_set.kind == "CREATE":
        live = describe(cfn, change_set.stack_id)
        if live is not None and live.status == "REVIEW_IN_PROGRESS":
            cfn.delete_stack(StackName=change_set.stack_id)


def delete_failed_creation(
    cfn: Any, live: Live, *, timeout: float = DELETE_TIMEOUT, delay: float | None = None
) -> None:
    """Delete a stack left in ROLLBACK_COMPLETE and wait until it is gone."""
    cfn.delete_stack(StackName=live.stack_id)
    status = live.status

    def deleted() -> bool | None:
        nonlocal status
        status = _status(cfn, live.stack_id)
        if status == "DELETE_FAILED":
            raise OperationError(
                f"{live.name}: could not delete the stack left by a failed creation "
                f"(DELETE_FAILED); delete it in the console and re-run"
            )
        return True if status == "DELETE_COMPLETE" else None

    def late() -> str:
        return (
            f"{live.name}: the stack left by a failed creation is still {status} "
            f"{_span(timeout)} after it was deleted; delete it in the console and re-run"
        )

    _poll(deleted, timeout=timeout, delay=delay, late=late)


def delete_stack(
    cfn: Any,
    live: Live,
    on_event: EventHandler,
    *,
    timeout: float = STACK_TIMEOUT,
    delay: float | None = None,
) -> Outcome:
    """Delete a stack and follow its events until it is gone or its deletion failed.

    DeleteStack without a RoleARN: CloudFormation "uses the role that was previously associated
    with the stack", so a service stack the pipeline updated is deleted with its environment's
    -cfn role (RoleARN, https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/
    API_DeleteStack.html); the deploy stack that holds that role must still exist.
    """
    stack, stack_id = live.name, live.stack_id
    seen = {e["EventId"] for e in _newest_events(cfn, stack_id)}
    try:
        cfn.delete_stack(StackName=stack_id)
    except ClientError as error:
        return Outcome(stack, False, "DELETE_FAILED", [_call_failure(stack, error)])
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout

    def follow() -> None:
        try:
            fresh = _new_events(cfn, stack_id, seen)
        except ClientError as error:
            if not _stack_missing(error):  # a deleted stack's events may be gone at once
                raise
            fresh = []
        for event in fresh:
            events.append(event)
            on_event(stack, event)

    while True:
        follow()
        status = _status(cfn, stack_id)
        if status == "DELETE_COMPLETE":
            return Outcome(stack, True, status)
        if status == "DELETE_FAILED":
            follow()
            return Outcome(stack, False, status, root_causes(stack, events))
        if time.monotonic() >= deadline:
            reason = (
                f"still {status} after {_span(timeout)}: CloudFormation carries on; follow it "
                "in the console and re-run `pipelines destroy` once it has finished"
            )
            return Outcome(stack, False, status, [Failure(stack, STACK_TYPE, status, reason)])
        _pause(delay)


# Execution -----------------------------------------------------------------------------------


def execute(
    cfn: Any,
    change_set: ChangeSet,
    on_event: EventHandler,
    *,
    timeout: float = STACK_TIMEOUT,
    delay: float | None = None,
) -> Outcome:
    """Execute a change set and follow the stack's events until CloudFormation is done.

    Done means a stack-level event with a final status: reading the stack status alone could
    still show the state from before the execution started. A stack still changing after
    `timeout` seconds is a failed Outcome that says so (CloudFormation carries on).
    """
    stack, stack_id = change_set.stack, change_set.stack_id
    seen = {e["EventId"] for e in _newest_events(cfn, stack_id)}
    try:
        cfn.execute_change_set(ChangeSetName=change_set.arn)
    except ClientError as error:
        return Outcome(stack, False, "EXECUTE_FAILED", [_call_failure(stack, error)])
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
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
            if time.monotonic() >= deadline:
                status = _status(cfn, stack_id)
                reason = (
                    f"still {status} after {_span(timeout)} (change set {change_set.arn}): "
                    "CloudFormation carries on; follow it in the console or with `pipelines "
                    "status`, and re-run once it has finished"
                )
                return Outcome(stack, False, status, [Failure(stack, STACK_TYPE, status, reason)])
            _pause(delay)
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
        events: list[dict[str, Any]] = cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
        return events
    except ClientError as error:
        if _stack_missing(error):
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


# Errors AWS gives in text only ---------------------------------------------------------------


def _stack_missing(error: ClientError) -> bool:
    """DescribeStacks and DescribeStackEvents answer a stack that does not exist with a
    ValidationError ("Stack with id NAME does not exist"): no error code of its own, so the
    message is all there is to tell it from another ValidationError."""
    return error_code(error) == "ValidationError" and "does not exist" in error_message(error)


def _change_set_missing(error: ClientError) -> bool:
    """DescribeChangeSet's ChangeSetNotFound, or the stack itself is missing (moto answers a
    change set it does not have that way too)."""
    return error_code(error) == CHANGE_SET_NOT_FOUND or _stack_missing(error)


# Waiting -------------------------------------------------------------------------------------


def _poll(
    done: Callable[[], T | None],
    *,
    timeout: float,
    delay: float | None,
    late: Callable[[], str],
) -> T:
    """Call `done` until it returns something, `delay` seconds apart, for at most `timeout`
    seconds; then raise TimedOut with the message `late()` makes."""
    deadline = time.monotonic() + timeout
    while True:
        result = done()
        if result is not None:
            return result
        if time.monotonic() >= deadline:
            raise TimedOut(late())
        _pause(delay)


def _pause(delay: float | None = None) -> None:
    if STOP.wait(POLL_SECONDS if delay is None else delay):
        raise OperationError("interrupted; CloudFormation carries on with what it started")


def _span(seconds: float) -> str:
    """A wait's bound as a person says it: 4 hours, 30 minutes, 90 seconds."""
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = int(seconds // 3600)
        return f"{hours} hour{'s' if hours != 1 else ''}"
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds:g} seconds"


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
