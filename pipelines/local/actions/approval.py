"""`Approval/AWS/Manual`: published to its SNS topic, then decided by the approve hook at once,
or, without one, through the API: the action waits for `put_approval_result` with its token.

An approval nobody decides within its TimeoutInMinutes (7 days if the action has none) fails,
as in CodePipeline, and so its stage and execution. The timeout is not scaled: a person decides
it, and a sandbox approval that expired after 24 seconds would teach nothing; Timing's
approval_seconds_per_minute is 60 outside the tests.
"""

from __future__ import annotations

from pipelines.local.actions.context import ActionResult, ActionRun, Context
from pipelines.local.execution import ActionFailed, RehearsalError
from pipelines.local.history import TimedOut

DEFAULT_TIMEOUT_MINUTES = 7 * 24 * 60  # CodePipeline's, for an approval without TimeoutInMinutes


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
        minutes = run.action.timeout_minutes or DEFAULT_TIMEOUT_MINUTES
        seconds = minutes * context.timing.approval_seconds_per_minute
        try:
            approved, summary = context.history.await_approval(run.record, seconds)
        except TimedOut:
            context.record(run, "approval timed out", f"{minutes} min")
            raise ActionFailed(
                f"the approval was not decided within its timeout of {minutes} minutes "
                "(TimeoutInMinutes): CodePipeline fails it"
            ) from None
    else:
        raise RehearsalError(f"{run.where}: no way to decide the approval")
    verdict = "approval " + ("approved" if approved else "rejected")
    context.record(run, verdict, message)  # the message, as resolved
    if approved:
        return ActionResult("approved", shown=summary)
    return ActionResult("rejected", rejected=True, shown=summary)
