"""What synth prints: one line per stack and a total."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipelines.config.models import Project
from pipelines.durations import duration
from pipelines.limits import needs_upload
from pipelines.release import lead_time
from pipelines.release.plan import StepKind, plan_release
from pipelines.render import Synthesis


def _table(rows: Sequence[tuple[str, ...]], indent: str = "") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def synth_summary(synthesis: Synthesis, out: Path, seconds: float) -> str:
    rows = [("stack", "account", "region", "resources", "bytes")]
    for o in synthesis.outputs:
        upload = " (via S3)" if needs_upload(len(o.body)) else ""
        rows.append(
            (
                o.stack.name,
                o.stack.account,
                o.stack.region,
                str(o.resources),
                f"{len(o.body):,}{upload}",
            )
        )
    lines = _table(rows)
    total_resources = sum(o.resources for o in synthesis.outputs)
    total_bytes = sum(len(b) for b in synthesis.files.values())
    lines.append(
        f"{len(synthesis.outputs)} stacks, {total_resources} resources, {total_bytes:,} bytes "
        f"written to {out}/ in {seconds:.2f} s"
    )
    return "\n".join(lines)


def lead_time_summary(project: Project) -> str:
    """Per environment, the waits the templates configure, and the total for a release."""
    waits = lead_time.estimate(project)
    rows = [("environment", "to healthy", "draining", "stopping", "batches", "bake", "total")]
    for env in waits:
        slow = env.slowest
        rows.append(
            (
                env.environment,
                duration(slow.to_healthy),
                duration(slow.draining),
                duration(slow.stopping),
                str(slow.batches),
                duration(env.bake),
                duration(env.total),
            )
        )
    total = lead_time.release_total(waits)
    aws = lead_time.release_total(lead_time.with_aws_defaults(project))
    approvals = sum(1 for env in waits if env.approval_timeout)
    lines = ["configured waits of a release (approvals excluded):", *_table(rows, indent="  ")]
    lines.append(
        f"  push to {waits[-1].environment}: {duration(total)} "
        f"(with AWS's default timings: {duration(aws)})"
    )
    lines += _shifting(waits)
    lines.append(_markers(project))
    timeouts = sorted({env.approval_timeout for env in waits if env.approval_timeout})
    if approvals == 1:
        lines.append(f"  plus 1 approval, timing out after {_long(timeouts[0])}")
    elif len(timeouts) == 1:
        lines.append(f"  plus {approvals} approvals, each timing out after {_long(timeouts[0])}")
    elif approvals:
        each = ", ".join(
            f"{env.environment} {_long(env.approval_timeout)}"
            for env in waits
            if env.approval_timeout
        )
        lines.append(f"  plus {approvals} approvals, timing out after: {each}")
    for env in waits:
        if env.window:
            lines.append(f"  {env.environment} waits for window {env.window} before it starts")
    steps = _runner_steps(project)
    if steps:
        lines.append(steps)
    return "\n".join(lines)


def _long(seconds: int) -> str:
    """A wait of days as days (an approval's timeout), else as a duration."""
    days, rest = divmod(seconds, 86400)
    if days and not rest:
        return "1 day" if days == 1 else f"{days} days"
    return duration(seconds)


def _shifting(waits: list[lead_time.EnvironmentWaits]) -> list[str]:
    """What ECS's strategies add to each environment's slowest service, in its total above."""
    return [
        f"  {env.environment} {service.service}: {service.strategy}, "
        f"{duration(service.shifting)} of traffic shifting and bake (in its total)"
        for env in waits
        for service in env.services
        if service.shifting and service is env.slowest
    ]


def _markers(project: Project) -> str:
    """The release markers of a release: each a Lambda call that takes about a second, stopped
    at its timeout."""
    count = sum(
        step.kind is StepKind.MARK for stage in plan_release(project).stages for step in stage.steps
    )
    timeout = lead_time.MARKER_TIMEOUT_SECONDS
    plural = "s" if count > 1 else ""
    return (
        f"  plus {count} release marker{plural}, at most {duration(count * timeout)} in all "
        f"(each tags the image its environment runs, stopped after {duration(timeout)})"
    )


def _runner_steps(project: Project) -> str | None:
    """The runner steps of a release and the most they can add to it, which is all that is
    known of them here: each is stopped at its runner's max_wait_minutes."""
    if not project.runners:
        return None
    from pipelines.config.runners import allow_list, environment_steps

    specs = allow_list(project)
    steps = [step for env in project.environments for step in environment_steps(project, env)]
    if not steps:
        return None
    most = sum(specs[step.runner].max_wait_minutes for step in steps) * 60
    plural = "s" if len(steps) > 1 else ""
    return (
        f"  plus {len(steps)} runner step{plural}, at most {duration(most)} in all "
        "(each is stopped at its runner's max_wait_minutes)"
    )
