"""What the command line shows of the verbs: their progress as it happens, their results, their
questions and their errors. The verbs themselves (pipelines/aws/, pipelines/local/rehearse.py)
print nothing and ask nothing; they report to a `Reporter` and return a result.

Imported by the AWS verbs' commands when they run, never by `pipelines synth`: rich is imported
only when a table of stacks is shown, and boto3 only by the verbs.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    from pipelines.aws.approve import Decision
    from pipelines.aws.deploy import DeployResult
    from pipelines.aws.destroy import DestroyResult
    from pipelines.aws.diff import DiffResult
    from pipelines.aws.release import Started
    from pipelines.aws.rollback import RollbackResult
    from pipelines.aws.status import Status
    from pipelines.local.rehearse import Result
    from pipelines.local.sandbox import Pushed, SandboxOptions


def confirm(question: str) -> bool:
    """Ask on the terminal; anything but yes is no."""
    return click.confirm(question, default=False)


class ConsoleReporter:
    """Progress on the terminal. While stacks change: on a terminal, rich redraws one row per
    stack with its status and latest resource event; in CI logs and pipes, every event is one
    line, so the log reads as a history. Safe to call from the verbs' worker threads."""

    def __init__(self, console: Console | None = None) -> None:
        self._console = console
        self._lock = threading.Lock()
        self._rows: dict[str, tuple[str, str]] = {}
        self._live: Live | None = None

    def info(self, line: str) -> None:
        click.echo(line)

    def warning(self, line: str) -> None:
        click.echo(line, err=True)

    @contextmanager
    def watching(self, stacks: Sequence[str]) -> Iterator[None]:
        with self._lock:
            self._rows = {name: ("waiting", "") for name in stacks}
        if self._console is None:
            from rich.console import Console

            self._console = Console(highlight=False)
        if not self._console.is_terminal:
            yield
            return
        from rich.live import Live

        with Live(self._table(), console=self._console, refresh_per_second=4) as live:
            self._live = live
            try:
                yield
            finally:
                live.update(self._table())
                self._live = None

    def stack_status(self, stack: str, status: str, detail: str = "") -> None:
        with self._lock:
            if self._rows.get(stack, ("", ""))[0] == status and not detail:
                return  # the final status often arrives as an event first
            self._rows[stack] = (status, detail)
            self._show(stack, status, detail)

    def resource_status(
        self, stack: str, resource: str, resource_type: str, status: str, reason: str = ""
    ) -> None:
        detail = f"{resource} ({resource_type})" + (f": {reason}" if reason else "")
        with self._lock:
            current = self._rows.get(stack, ("", ""))[0]
            self._rows[stack] = (current, f"{status} {detail}")
            self._show(stack, status, detail)

    def deployed(self, result: DeployResult) -> None:
        """The rehearsal's deploys end as `pipelines deploy` does."""
        show_deploy(result)

    def _show(self, stack: str, status: str, detail: str) -> None:
        if self._live is not None:
            self._live.update(self._table())
        else:
            click.echo(f"  {stack}  {status}  {detail}".rstrip())

    def _table(self) -> Table:
        from rich.table import Table

        table = Table(box=None, show_header=True, header_style="bold")
        table.add_column("stack", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("latest event", overflow="ellipsis", no_wrap=True)
        for stack, (status, detail) in self._rows.items():
            style = "red" if "FAILED" in status or "ROLLBACK" in status else None
            table.add_row(stack, status, detail, style=style)
        return table


def run_verb(verb: Callable[[], int]) -> None:
    """Run a verb and exit with its status; its errors, AWS's included, become lines on stderr
    that say what to do, never a traceback."""
    from botocore.exceptions import BotoCoreError, ClientError

    from pipelines.aws.errors import OperationError, explain

    try:
        status = verb()
    except OperationError as error:
        _print_error(error)
        sys.exit(error.exit_code)
    except (BotoCoreError, ClientError) as error:
        explained = explain(error)
        _print_error(explained)
        sys.exit(explained.exit_code)
    except KeyboardInterrupt:
        click.echo(
            "interrupted: CloudFormation finishes any operation already started; "
            "`pipelines status` or the console shows where things stand",
            err=True,
        )
        sys.exit(130)
    sys.exit(status)


def _print_error(error: Exception) -> None:
    for line in str(error).splitlines():
        click.echo(f"error: {line}", err=True)


# The results of the verbs ----------------------------------------------------------------------


def show_deploy(result: DeployResult) -> int:
    if result.declined:
        click.echo("nothing executed; the change sets are deleted")
        _not_pruned(result)
        return result.exit_code
    if result.failed:
        for outcome in result.failed:
            click.echo(f"\n{outcome.stack} failed: {outcome.status}", err=True)
            for failure in outcome.failures:
                click.echo(f"  {failure}", err=True)
        stopped = "No stack of a later wave was touched. " if result.later_waves else ""
        click.echo(
            f"\n{stopped}CloudFormation rolls a failed stack back by itself. Fix the cause and "
            "run `pipelines deploy` again: stacks that are done show no changes.",
            err=True,
        )
        _not_pruned(result)
        return result.exit_code
    location = result.templates_location
    click.echo(
        {
            "uploaded": f"templates.zip uploaded to {location}",
            "unchanged": f"templates.zip unchanged in {location}",
            "no bucket": f"templates.zip not uploaded: {location} does not exist yet",
            "partial": "templates.zip not updated: this deploy covered only some stacks. Run "
            "`pipelines deploy` without --env/--stack to publish the templates the next release "
            "uses",
        }[result.templates or "partial"]
    )
    if result.pruned is not None:
        _show_pruned(result.pruned)
    elif result.orphans:
        count = len(result.orphans)
        click.echo(
            f"\n{count} stack{'s' * (count != 1)} of the app that the manifest no longer names "
            "still run:"
        )
        for orphan in result.orphans:
            click.echo(orphan.line())
        click.echo("`pipelines deploy --prune` deletes them (it lists them again first)")
    if result.ok:
        click.echo("\ndeploy complete")
    return result.exit_code


def _not_pruned(result: DeployResult) -> None:
    if result.orphans:
        click.echo(
            "the stacks the manifest no longer names were not touched: they are pruned only "
            "after a deploy that succeeds",
            err=True,
        )


def _show_deletions(result: DestroyResult, done: str, after_failure: str) -> None:
    """What a deletion of stacks (destroy, or deploy's prune) did: the failure first, if any."""
    if result.failed:
        for outcome in result.failed:
            click.echo(f"\n{outcome.stack} failed: {outcome.status}", err=True)
            for failure in outcome.failures:
                click.echo(f"  {failure}", err=True)
        if result.untouched:
            click.echo(f"Not touched: {', '.join(result.untouched)}.", err=True)
        click.echo(after_failure, err=True)
    click.echo(f"\n{done} {len(result.deleted)} stacks: {', '.join(result.deleted) or '-'}")
    for bucket, count in result.emptied.items():
        click.echo(f"emptied {bucket} first ({count} object versions and delete markers)")


def _show_pruned(result: DestroyResult) -> None:
    """What `deploy --prune` deleted, emptied and left behind."""
    if result.declined:
        click.echo("\nthe deploy is done; nothing pruned: the stacks listed for --prune still run")
        return
    _show_deletions(
        result,
        "pruned",
        "The deploy itself is done. Fix the cause CloudFormation names above and run "
        "`pipelines deploy --prune` again: stacks already gone are not listed.",
    )
    if behind := result.left_behind:
        click.echo("retained (still there, still billed; see docs/teardown.md):")
        for retained in behind:
            click.echo(retained.line())


def show_diff(result: DiffResult) -> int:
    for stack in result.stacks:
        click.echo("\n".join(stack.lines))
        if stack.needs_bootstrap:
            click.echo(
                "    deploy will need --bootstrap-image, or image.bootstrap in "
                "pipeline.yaml, for the first image of this service"
            )
    location = result.templates_location
    if result.templates == "differs":
        click.echo(f"  templates.zip: differs from {location}; deploy uploads it")
    elif result.templates == "missing":
        click.echo(f"  templates.zip: {location} does not exist yet; deploy uploads it")
    elif result.templates == "same":
        click.echo("  templates.zip: no changes")
    if result.orphans:
        click.echo("no longer in the manifest (`pipelines deploy --prune` deletes them):")
        for orphan in result.orphans:
            click.echo(orphan.line())
    changed = result.changes
    click.echo(f"{changed} change{'s' * (changed != 1)}" if changed else "no changes")
    return result.exit_code


def show_destroy(result: DestroyResult) -> int:
    """The summary: what was deleted, emptied and removed, and what stays behind."""
    plan = result.plan
    if plan.empty:
        click.echo("nothing to delete")
        return result.exit_code
    if result.declined:
        click.echo("nothing deleted")
        return result.exit_code
    _show_deletions(
        result,
        "deleted",
        "Fix the cause CloudFormation names above and run `pipelines destroy` again: "
        "stacks already gone are skipped.",
    )
    for line in result.removed:
        click.echo(f"removed {line}")
    behind = result.left_behind
    if behind:
        click.echo("retained (still there, still billed):")
        for retained in behind:
            click.echo(retained.line())
        if not plan.include_retained:
            click.echo("`pipelines destroy --include-retained` removes them")
    if result.ok:
        click.echo("\ndestroy complete")
    return result.exit_code


def show_status(statuses: list[Status], output: str) -> int:
    """One image's status as always; several images' one after another (JSON: a list of
    documents under `images`)."""
    if len(statuses) == 1:
        [status] = statuses
        click.echo(status.json() if output == "json" else "\n".join(status.lines()))
    elif output == "json":
        documents = [json.loads(s.json()) for s in statuses]
        click.echo(json.dumps({"images": documents}, indent=2, sort_keys=True))
    else:
        click.echo("\n\n".join("\n".join(s.lines()) for s in statuses))
    return 0


def show_decision(decision: Decision) -> int:
    done = "approved" if decision.approved else "rejected"
    click.echo(
        f"{done} {decision.env}: execution {decision.execution_id}, image "
        f"{decision.repository}@{decision.digest}"
    )
    if decision.approved:
        click.echo(f"the Apply step now executes the change sets planned for {decision.env}")
    return 0


def show_release(started: Started) -> int:
    from pipelines.aws import text

    image = started.image
    tags = ", ".join(image.tags) or "untagged"
    click.echo(
        f"started execution {started.execution_id} of {started.pipeline} for "
        f"{started.repository}@{image.digest} ({tags}; pushed {text.when(image.pushed)})"
    )
    click.echo("`pipelines status` follows it; it queues behind any execution already running")
    return 0


def show_rollback(result: RollbackResult) -> int:
    """After the plan: nothing to do, nothing done, or what was done, in a form worth pasting
    into the incident channel (the pipeline's history does not show it)."""
    from pipelines.aws import text

    todo = result.todo
    if not todo:
        click.echo("nothing to do")
        return result.exit_code
    if result.declined:
        click.echo("nothing changed")
        return result.exit_code
    env = result.env
    click.echo(
        f"\nrollback of {env}, change sets pipelines-rollback-{result.stamp}, by {result.caller}:"
    )
    for step, outcome in zip(todo, result.outcomes, strict=True):
        done = "done" if outcome.ok else f"FAILED ({outcome.status})"
        click.echo(f"  {step.entry.name}: {step.current} -> {step.target}: {done}")
        for failure in outcome.failures:
            click.echo(f"    {failure}", err=True)
    click.echo(
        f"The pipeline's history does not show this. The next release that reaches {env} "
        f"replaces it, and an approval for {env} planned before now cannot be applied any more "
        f"(CloudFormation rejects its change set): reject it with `pipelines reject {env}`."
    )
    if not result.ok:
        click.echo("CloudFormation rolled the failed stacks back to the image they had.", err=True)
        return result.exit_code
    click.echo(f"finished at {text.when(result.finished)}")
    return result.exit_code


def show_rehearsal(result: Result, fail_at: str | None) -> int:
    from pipelines.local.interpreter import short_digest

    digest = result.digests[-1]
    _live_table(result, digest)
    _other_images(result)
    _deployed_tags(result.tags, digest)
    click.echo(f"\nrehearsal took {result.seconds:.1f}s")
    if fail_at:
        click.echo(f"--fail-at {fail_at}: the failures above were injected, not real")
    if result.exit_code == 0:
        click.echo(
            f"every environment meant to receive {short_digest(digest)} runs it: "
            f"{', '.join(result.meant)}"
        )
    else:
        click.echo(
            f"not every environment meant to receive {short_digest(digest)} runs it", err=True
        )
    return result.exit_code


def _other_images(result: Result) -> None:
    """With several images: the other images' services, which the release must leave alone."""
    from pipelines.local.interpreter import short_digest

    if not result.others:
        return
    click.echo("\nthe other images' services (this release must not touch them):")
    for item in result.others:
        runs = {item.parameter, item.running}
        said = "bootstrap" if runs == {result.bootstrap} else "not the bootstrap"
        shown = ", ".join(sorted(short_digest(d) if d else "-" for d in runs))
        click.echo(f"  {item.environment:<12} {item.service:<12} {shown} ({said})")


def _live_table(result: Result, digest: str) -> None:
    """What runs where, read back from CloudFormation and ECS, against what was meant."""
    from pipelines.local.interpreter import short_digest

    def name(value: str | None) -> str:
        if value is None:
            return "-"
        label = short_digest(value)
        if value == digest:
            return f"{label} (new)"
        if value == result.bootstrap:
            return f"{label} (bootstrap)"
        return f"{label} (earlier push)"

    rows = [("environment", "service", "stack ImageUri", "ECS task definition", "expected")]
    for item in result.live:
        good = item.parameter == digest and item.running == digest
        if item.environment not in result.meant:
            verdict = "not meant (approval rejected)"
        elif good:
            verdict = "ok"
        elif item.environment in result.untouched:
            verdict = "MISSING (not reached: the release stopped earlier)"
        else:
            verdict = "MISSING"
        rows.append(
            (item.environment, item.service, name(item.parameter), name(item.running), verdict)
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    click.echo(
        f"\nlive now (read back from CloudFormation and ECS), new digest {short_digest(digest)}:"
    )
    for row in rows:
        click.echo(
            "  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        )


def _deployed_tags(tags: dict[str, str], digest: str) -> None:
    from pipelines.local.interpreter import short_digest

    if not tags:
        return
    click.echo("\nimage tags the release marker moved (read back from ECR):")
    width = max(len(tag) for tag in tags)
    for tag, tagged in tags.items():
        new = " (new)" if tagged == digest else ""
        click.echo(f"  {tag:<{width}}  {short_digest(tagged)}{new}")


# `pipelines sandbox` ---------------------------------------------------------------------------


def run_sandbox(options: SandboxOptions) -> int:
    """Serve the sandbox until SIGINT or SIGTERM; its exports go to standard output, one per
    line, then the executions' progress as they run."""
    import signal

    from pipelines.local.sandbox import open_sandbox

    with open_sandbox(options, ConsoleReporter()) as sandbox:
        stop = threading.Event()
        handlers = {
            number: signal.signal(number, lambda *_: stop.set())
            for number in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            manifest = sandbox.manifest
            served = ", ".join(i.pipeline for i in manifest.images) or manifest.pipeline
            click.echo(
                f"\nthe sandbox serves {served} at {sandbox.endpoint}; paste these "
                "lines into another shell:\n"
            )
            for line in sandbox.exports():
                click.echo(line)
            click.echo(
                f"\nthen: pipelines sandbox push --templates {options.templates}, "
                f"pipelines status --templates {options.templates}, approve, release, rollback."
                "\nCtrl-C stops the sandbox (and forgets everything in it).\n"
            )
            while not stop.wait(0.5):
                pass
            click.echo("stopping the sandbox")
        finally:
            for number, handler in handlers.items():
                signal.signal(number, handler)
    return 0


def show_push(pushed: Pushed) -> int:
    click.echo(pushed.digest)
    if pushed.release:
        click.echo(
            f"pushed {pushed.repository}:{pushed.tag}: a release starts; `pipelines status` "
            "follows it",
            err=True,
        )
    return 0


# `pipelines run` ---------------------------------------------------------------------------------


def run_command(
    *,
    runner: str | None,
    script: str | None,
    args: Sequence[str],
    environment: str | None,
    cpu: int | None,
    memory: int | None,
    max_wait: str | None,
    no_wait: bool,
    describe_only: bool,
    runners_file: Path,
    function: str | None = None,
    invoke: Any = None,
    image: str | None = None,
) -> int:
    """The whole `pipelines run`: messages to the terminal, an exit status back."""
    from pipelines import naming
    from pipelines.aws import run
    from pipelines.invoker.allowlist import Refused
    from pipelines.invoker.document import DocumentError, load_document_file

    try:
        document = load_document_file(runners_file)
    except DocumentError as error:
        click.echo(f"error: {error}", err=True)
        click.echo("error: run `pipelines synth` or pass --runners FILE", err=True)
        return run.EXIT_REFUSED
    if describe_only:
        click.echo(run.describe(document), nl=False)
        return 0
    if not runner or not script:
        click.echo("error: name a RUNNER and a SCRIPT (see pipelines run --describe)", err=True)
        return run.EXIT_REFUSED
    try:
        minutes = None if max_wait is None else run.parse_duration(max_wait)
    except run.DurationError as error:
        raise click.BadParameter(str(error)) from None
    options = run.RunOptions(
        runner=runner,
        script=script,
        args=tuple(args),
        environment=environment,
        cpu=cpu,
        memory=memory,
        max_wait_minutes=minutes,
        wait=not no_wait,
        image=image,
    )
    if invoke is None:
        invoke = run.lazy_invoker(
            function or naming.invoker_function(document.app), document.region
        )
    try:
        job = run.run_job(document, options, invoke, reporter=ConsoleReporter())
    except Refused as refused:
        click.echo(f"error: refused: {refused.reason}", err=True)
        return run.EXIT_REFUSED
    except run.RunError as error:
        click.echo(f"error: {error}", err=True)
        return 1
    if job.error:
        click.echo(f"error: {job.error}")
    return job.exit_code
