"""`cloudformation plan` and `cloudformation apply`: a change set planned, approved, executed.

The change sets are made, waited for and executed by pipelines/aws/cloudformation.py, the
implementation `pipelines deploy` uses too; what is here is the jobs' own: which parameters a
plan passes, what is printed, which outputs are handed on, and apply's refusal of a change set
of another stack.

plan creates (replacing) the named change set and prints what it would do; outputs changeSet,
changeSetId and summary. An empty change set is left in place, so that apply finds it and
says there is nothing to apply. apply executes exactly the named change set (best by ARN, the
plan's changeSetId) and follows the stack's events; outputs stackStatus and summary.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pipelines.aws.cloudformation import (
    CHANGE_SET_DELETE_TIMEOUT,
    CHANGE_SET_TIMEOUT,
    PLANNING,
    STACK_TIMEOUT,
    Change,
    Live,
    Outcome,
    change_set_type,
    describe,
    execute,
    find_change_set,
    in_progress,
    plan_change_set,
    remove_change_set,
    wait_for_change_set,
)
from pipelines.jobs.errors import JobError
from pipelines.jobs.outputs import emit

DEFAULT_CHANGE_SET = "pipelines-plan"
DEFAULT_CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_NAMED_IAM")
DESCRIPTION = "pipelines runner plan"
# CloudFormation takes a TemplateBody up to this size; larger templates need an S3 URL.
MAX_TEMPLATE_BODY = 51_200


def cloudformation_plan(
    cfn: Any,
    *,
    stack: str,
    template: str,
    parameters: Sequence[str] = (),
    change_set: str = DEFAULT_CHANGE_SET,
    role_arn: str | None = None,
    delay: float | None = None,
    timeout: float = CHANGE_SET_TIMEOUT,
    delete_timeout: float = CHANGE_SET_DELETE_TIMEOUT,
) -> int:
    """Create (replacing) a change set, wait for it (at most `timeout` seconds), print what it
    would do."""
    if len(template.encode()) > MAX_TEMPLATE_BODY:
        raise JobError(
            f"the template is {len(template.encode())} bytes; CloudFormation takes at most "
            f"{MAX_TEMPLATE_BODY} inline"
        )
    live = describe(cfn, stack)
    kind = change_set_type(live)
    remove_change_set(cfn, stack, change_set, timeout=delete_timeout, delay=delay)
    planned = plan_change_set(
        cfn,
        stack,
        kind,
        change_set,
        template={"TemplateBody": template},
        parameters=_parameters(live, template, parameters, kind),
        capabilities=DEFAULT_CAPABILITIES,
        description=DESCRIPTION,
        role_arn=role_arn,
        timeout=timeout,
        delay=delay,
    )
    print(f"Change set {change_set} for stack {stack} ({kind}):", flush=True)
    emit("changeSet", change_set)
    if planned.arn:  # plain moto refuses an empty change set outright: no ARN then
        emit("changeSetId", planned.arn)
    if planned.no_changes:
        print("No changes.")
        emit("summary", f"{stack}: no changes")
        return 0
    print_changes(planned.changes)
    emit("summary", f"{stack}: {plan_summary(planned.changes)}")
    return 0


def cloudformation_apply(
    cfn: Any,
    *,
    stack: str,
    change_set: str,
    delay: float | None = None,
    timeout: float = STACK_TIMEOUT,
    plan_timeout: float = CHANGE_SET_TIMEOUT,
) -> int:
    """Execute exactly the named change set of the stack, then wait (at most `timeout`
    seconds) for the stack."""
    # An ARN is looked up on its own, so that a mismatch is reported as such below.
    found = find_change_set(cfn, stack, change_set)
    if found is None:
        raise JobError(
            f"no change set {change_set!r} on stack {stack}: it was deleted, or never planned "
            "(cloudformation plan makes it)"
        )
    # An ARN names its own stack; make sure it is the stack the caller was allowed to name.
    if found.stack != stack:
        raise JobError(f"change set {change_set!r} belongs to {found.stack}")
    if found.status in PLANNING:
        found = wait_for_change_set(cfn, stack, found.arn, timeout=plan_timeout, delay=delay)
    if found.no_changes:
        print(f"Change set {change_set} holds no changes; nothing to apply.")
        emit("summary", f"{stack}: no changes")
        return 0
    if not found.executable:
        raise JobError(found.why_not_executable())
    print(f"Executing change set {found.name} on {stack}:")
    print_changes(found.changes)
    outcome = execute(cfn, found.change_set(), _print_event, timeout=timeout, delay=delay)
    emit("stackStatus", outcome.status)
    if not outcome.ok:
        raise _failed(found.name, outcome)
    emit("summary", f"{stack}: {plan_summary(found.changes)} applied")
    return 0


def print_changes(changes: Sequence[Change]) -> None:
    if not changes:
        print("  (no resource changes)")
        return
    width = max(len("Resource"), *(len(c.logical_id) for c in changes))
    kind_width = max(len("Type"), *(len(c.resource_type) for c in changes))
    print(f"  {'Action':<8} {'Resource':<{width}}  {'Type':<{kind_width}}  Replacement")
    for c in changes:
        print(
            f"  {c.action:<8} {c.logical_id:<{width}}  {c.resource_type:<{kind_width}}  "
            f"{_replacement(c)}"
        )
    print(f"Plan: {plan_summary(changes)}.", flush=True)


def plan_summary(changes: Sequence[Change]) -> str:
    count = {a: sum(c.action == a for c in changes) for a in ("Add", "Modify", "Remove")}
    replaced = sum(_replacement(c) in ("True", "Conditional") for c in changes)
    other = len(changes) - sum(count.values())
    text = (
        f"{count['Add']} to add, {count['Modify']} to modify ({replaced} replaced), "
        f"{count['Remove']} to remove"
    )
    return text + (f", {other} other" if other else "")


def _replacement(change: Change) -> str:
    """Whether a modified resource is replaced; "-" where the question does not arise."""
    return (change.replacement or "-") if change.action == "Modify" else "-"


def _parameters(
    live: Live | None, template: str, given: Sequence[str], kind: str
) -> list[dict[str, Any]]:
    """Given parameters; on update, the stack's other parameters keep their previous values
    (like `aws cloudformation deploy`), where the template still declares them."""
    result: dict[str, dict[str, Any]] = {}
    for item in given:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise JobError(f"--parameter takes KEY=VALUE, got {item!r}")
        result[key] = {"ParameterKey": key, "ParameterValue": value}
    if kind == "UPDATE" and live is not None:
        try:
            declared = set(json.loads(template).get("Parameters", {}))
        except ValueError:
            declared = set()  # a YAML template: only the given parameters are passed
        for key in live.parameters:
            if key in declared and key not in result:
                result[key] = {"ParameterKey": key, "UsePreviousValue": True}
    return list(result.values())


def _print_event(stack: str, event: dict[str, Any]) -> None:
    reason = f" {event['ResourceStatusReason']}" if event.get("ResourceStatusReason") else ""
    print(f"  {event['ResourceStatus']:<28} {event['LogicalResourceId']}{reason}", flush=True)


def _failed(change_set: str, outcome: Outcome) -> JobError:
    """What went wrong, from the stack events' reasons where CloudFormation gave them."""
    stack, status = outcome.stack, outcome.status
    reasons = "; ".join(str(f) for f in outcome.failures) or "no reason given"
    if status == "EXECUTE_FAILED":  # ExecuteChangeSet itself was refused
        why = outcome.failures[0].reason if outcome.failures else reasons
        return JobError(f"CloudFormation did not execute change set {change_set} on {stack}: {why}")
    if in_progress(status):  # the wait ran past its bound
        why = outcome.failures[0].reason if outcome.failures else status
        return JobError(f"stack {stack} is {why}")
    return JobError(f"stack {stack} ended {status}: {reasons}")
