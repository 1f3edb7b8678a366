"""`pipelines approve` and `pipelines reject`: act on ENV's pending approval, but only if it
promotes the digest the person named.

The pending approval is the `Approve` action of ENV's stage in state InProgress; its execution is
the stage's latest execution (the pipeline is QUEUED, so a stage holds one execution at a time).
The result is put with that action's token, which CodePipeline accepts only for that approval:
if the execution moved on between reading and acting, the call fails instead of approving
something else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines import naming
from pipelines.aws import digests
from pipelines.aws.errors import OperationError, Refused, located
from pipelines.aws.manifest import Manifest, load_manifest
from pipelines.aws.pipeline_state import (
    Approval,
    action_executions,
    execution_digest,
    read_state,
    recent_executions,
)
from pipelines.aws.session import Clients

SUMMARY_LIMIT = 512  # CodePipeline's limit for an approval's summary


@dataclass(frozen=True)
class ApprovalOptions:
    templates: Path
    env: str
    digest: str
    comment: str | None = None
    approve: bool = True
    image: str | None = None  # required with several images: whose pipeline's approval


@dataclass(frozen=True)
class Decision:
    """The approval that was approved or rejected, and the image its execution promotes."""

    env: str
    approved: bool
    execution_id: str
    repository: str
    digest: str


def decide(clients: Clients, options: ApprovalOptions) -> Decision:
    manifest = load_manifest(options.templates).for_image(options.image)
    manifest.check_environment(options.env)
    given = digests.parse(options.digest)
    home = (manifest.toolchain_account, manifest.toolchain_region)
    with located(clients.where(*home)):
        cp = clients.client("codepipeline", *home)
        approval, pending = _put_result(clients, cp, manifest, options, given)
    return Decision(
        options.env, options.approve, approval.execution_id, manifest.repository, pending
    )


def _put_result(
    clients: Clients, cp: Any, manifest: Manifest, options: ApprovalOptions, given: str
) -> tuple[Approval, str]:
    """Find the pending approval, check it promotes `given`, and put the result."""
    verb = "approve" if options.approve else "reject"
    approval = pending_approval(cp, manifest, options.env)
    details = action_executions(cp, manifest.pipeline, approval.execution_id)
    _check_same_approval(details, approval)
    pending = execution_digest(cp, manifest.pipeline, approval.execution_id, details)
    if pending is None:
        raise Refused(
            f"refusing to {verb}: cannot tell which digest execution {approval.execution_id} "
            "promotes (no ImageDigest in its Source stage, no Image revision)"
        )
    if not (digests.is_full(given) and given == pending):
        _check_names_pending(cp, manifest, approval, given, pending, verb)
    summary = options.comment or f"{verb}d with pipelines {verb} by {clients.caller.arn}"
    cp.put_approval_result(
        pipelineName=manifest.pipeline,
        stageName=approval.stage,
        actionName=naming.APPROVAL_ACTION,
        result={
            "summary": summary[:SUMMARY_LIMIT],
            "status": "Approved" if options.approve else "Rejected",
        },
        token=approval.token,
    )
    return approval, pending


def pending_approval(cp: Any, manifest: Manifest, env: str) -> Approval:
    state = read_state(cp, manifest.pipeline, manifest.promotion, manifest.stages)
    stage = state.stages.get(env)
    if stage is None:
        raise Refused(
            f"pipeline {manifest.pipeline} has no stage {env}: deploy the pipeline stack "
            "(`pipelines deploy`) so it matches templates/"
        )
    if not stage.has_approval:
        raise Refused(
            f"{env} has no approval step (requires_approval is false): nothing to approve"
        )
    if stage.approval is None:
        latest = stage.latest
        now = f"its latest execution {latest.id} is {latest.status}" if latest else "it has not run"
        raise Refused(
            f"no approval is pending in {env}: {now}. `pipelines status` shows what is waiting"
        )
    return stage.approval


def _check_same_approval(details: list[dict[str, Any]], approval: Approval) -> None:
    """The Approve action the execution's history shows for this stage must be the one whose
    token we hold; otherwise the state changed while we read it."""
    for detail in details:
        if (
            detail.get("stageName") == approval.stage
            and detail.get("actionName") == naming.APPROVAL_ACTION
            and approval.action_execution_id
            and detail.get("actionExecutionId") not in (None, approval.action_execution_id)
        ):
            raise OperationError(
                f"the approval in {approval.env} changed while it was read; run the command again"
            )


def _check_names_pending(
    cp: Any,
    manifest: Manifest,
    approval: Approval,
    given: str,
    pending: str,
    verb: str,
) -> None:
    """A prefix must name exactly one of the digests in flight, and that must be the pending one."""
    others = {
        s.digest: s
        for s in recent_executions(cp, manifest.pipeline)
        if s.digest and s.status == "InProgress" and s.id != approval.execution_id
    }
    named = digests.resolve(given, {pending, *others}, "the executions in flight")
    if named == pending:
        return
    message = (
        f"refusing to {verb} {approval.env}: its pending approval belongs to execution "
        f"{approval.execution_id}, which promotes {pending}, not {given}"
    )
    if named in others:
        message += (
            f". {named} is execution {others[named].id}, queued behind it; it reaches this "
            "approval only after the pending one is approved or rejected"
        )
    raise Refused(message)
