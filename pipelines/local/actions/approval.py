"""`Approval/AWS/Manual`: published to its SNS topic, then decided by the approve hook at once,
or, without one, through the API: the action waits for `put_approval_result` with its token (no
7-day timeout)."""

from __future__ import annotations

from pipelines.local.actions.context import ActionResult, ActionRun, Context
from pipelines.local.execution import RehearsalError


def manual_approval(context: Context, run: ActionRun) -> ActionResult:
    stage, action, config = run.stage.name, run.action.name, run.config
    message = config.get("CustomData", "")
    topic = config.get("NotificationArn")
    if topic:
        sns = context.clients.client("sns", run.action.role_arn, run.region)
        sns.publish(TopicArn=topic, Subject="Approval needed", Message=message)
    context.journal.tell(f"    approval {stage}/{action}: {message}")
    if link := config.get("ExternalEntityLink"):
        context.journal.tell(f"    link: {link}")
    summary = ""
    if context.hooks.approve is not None:
        approved = context.hooks.approve(run.execution, stage, action, message)
    elif run.record is not None:
        approved, summary = context.history.await_approval(run.record)
    else:
        raise RehearsalError(f"{run.where}: no way to decide the approval")
    verdict = "approval " + ("approved" if approved else "rejected")
    context.record(run, verdict, message)  # the message, as resolved
    if approved:
        return ActionResult("approved", shown=summary)
    return ActionResult("rejected", rejected=True, shown=summary)
