"""`Approval/AWS/Manual`: published to its SNS topic, decided at once by the approve hook (no
7-day timeout)."""

from __future__ import annotations

from pipelines.local.actions.context import ActionResult, ActionRun, Context


def manual_approval(context: Context, run: ActionRun) -> ActionResult:
    stage, action, config = run.stage.name, run.action.name, run.config
    message = config.get("CustomData", "")
    topic = config.get("NotificationArn")
    if topic:
        sns = context.clients.client("sns", run.action.role_arn, run.region)
        sns.publish(TopicArn=topic, Subject="Approval needed", Message=message)
    context.hooks.echo(f"    approval {stage}/{action}: {message}")
    if link := config.get("ExternalEntityLink"):
        context.hooks.echo(f"    link: {link}")
    approved = context.hooks.approve(run.execution, stage, action, message)
    verdict = "approval " + ("approved" if approved else "rejected")
    context.record(run, verdict, message)  # the message, as resolved
    return ActionResult("approved") if approved else ActionResult("rejected", rejected=True)
