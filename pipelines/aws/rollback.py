"""`pipelines rollback ENV [--to DIGEST]`: put ENV's services back on an earlier image, now,
through CloudFormation and without the pipeline.

Where "previous" comes from: the task definition revisions of each service's family in ENV's
own account. Every change of ImageUri registers a new revision, and ECS keeps old revisions
(INACTIVE) readable. The previous image is the one the newest revision before the current
image's run used, so it is what actually ran in this environment, whichever way it got there
(pipeline, bootstrap, an earlier rollback), and finding it needs no access to the toolchain.
Like `kubectl rollout undo`, a second rollback returns to the image the first one replaced;
use --to to go further back.

Only ImageUri changes: the change set reuses the stack's current template (UsePreviousTemplate).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pipelines import naming
from pipelines.aws import digests
from pipelines.aws.cloudformation import (
    STACK_TYPE,
    Failure,
    Live,
    Outcome,
    blocked,
    create_change_set,
    describe,
    execute,
    now_stamp,
)
from pipelines.aws.errors import FAILED, OK, BadInput, OperationError
from pipelines.aws.images import find_image
from pipelines.aws.manifest import Manifest, StackEntry, load_manifest
from pipelines.aws.progress import SILENT, Reporter, report_event
from pipelines.aws.session import Clients
from pipelines.aws.stackplan import acting_on, parallel

HISTORY_LIMIT = 100  # task definition revisions read per service, newest first


@dataclass(frozen=True)
class RollbackOptions:
    templates: Path
    env: str
    to: str | None = None
    yes: bool = False
    image: str | None = None  # required with several images: whose services roll back


@dataclass(frozen=True)
class Step:
    entry: StackEntry
    live: Live
    current: str
    target: str
    why: str

    @property
    def needed(self) -> bool:
        return self.current != self.target


@dataclass
class RollbackResult:
    """The plan, and what became of it. The pipeline's history does not show a rollback: this
    is its record."""

    env: str
    steps: list[Step]  # every service stack of the environment
    caller: str
    declined: bool = False  # the person said no: nothing changed
    stamp: str = ""  # the change sets are pipelines-rollback-<stamp>
    outcomes: list[Outcome] = field(default_factory=list)  # of `todo`, in its order
    finished: datetime | None = None

    @property
    def todo(self) -> list[Step]:
        return [s for s in self.steps if s.needed]

    @property
    def ok(self) -> bool:
        return not self.declined and all(o.ok for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        return OK if self.ok else FAILED


def rollback(
    clients: Clients,
    options: RollbackOptions,
    reporter: Reporter = SILENT,
    confirm: Callable[[str], bool] | None = None,
) -> RollbackResult:
    """Plan the rollback and report the plan; then, with `options.yes` or if `confirm` agrees,
    apply it. Without either, it refuses before any AWS call."""
    manifest = load_manifest(options.templates).for_image(options.image)
    entries = manifest.service_stacks(options.env)
    given = digests.parse(options.to) if options.to else None
    if not options.yes and confirm is None:
        raise BadInput("rollback asks before changing anything: pass --yes to run unattended")
    caller = clients.caller

    steps = parallel(lambda e: _plan(clients, manifest, e, given), entries)
    for line in plan_lines(options.env, steps):
        reporter.info(line)
    result = RollbackResult(options.env, steps, caller.arn)
    todo = result.todo
    if not todo:
        return result
    if not options.yes and not (confirm is not None and confirm(f"roll back {options.env}?")):
        result.declined = True
        return result

    result.stamp = stamp = now_stamp()
    description_of = {
        s.entry.name: f"pipelines rollback by {caller.arn}: {s.current} -> {s.target}" for s in todo
    }

    def run(step: Step) -> Outcome:
        try:
            with acting_on(clients, step.entry):
                return _apply(
                    clients, step, f"pipelines-rollback-{stamp}", description_of, reporter
                )
        except OperationError as error:
            return Outcome(
                step.entry.name,
                False,
                "FAILED",
                [Failure(step.entry.name, STACK_TYPE, "", str(error))],
            )

    with reporter.watching([s.entry.name for s in todo]):
        result.outcomes = parallel(run, todo)
    result.finished = datetime.now(UTC)
    return result


def plan_lines(env: str, steps: list[Step]) -> list[str]:
    """The plan, shown before anything changes."""
    first = steps[0].entry
    lines = [f"rollback of {env} ({first.account}, {first.region}):"]
    for step in steps:
        change = (
            f"{_brief(step.current)} -> {_brief(step.target)}"
            if step.needed
            else f"already on {_brief(step.target)}"
        )
        lines.append(f"  {step.entry.name}: {change} ({step.why})")
    return lines


def _brief(image: str) -> str:
    """The short digest for the plan; the full image URIs go into the record at the end."""
    digest = digests.of_image(image)
    return digests.short(digest) if digest else image


def _plan(clients: Clients, manifest: Manifest, entry: StackEntry, given: str | None) -> Step:
    with acting_on(clients, entry):
        cfn = clients.client("cloudformation", entry.account, entry.region)
        live = describe(cfn, entry.name)
        if live is None:
            raise OperationError("the stack does not exist: nothing to roll back")
        if message := blocked(live):
            raise OperationError(message)
        current = live.parameters.get(naming.IMAGE_URI_PARAMETER, "")
        ecs = clients.client("ecs", entry.account, entry.region)
        family = _family(live, manifest, entry)
        history = _image_history(ecs, family)
        if given is None:
            target, why = _previous(history, current, family)
        else:
            target, why = _named(clients, manifest, history, given)
        return Step(entry, live, current, target, why)


def _family(live: Live, manifest: Manifest, entry: StackEntry) -> str:
    arn = live.outputs.get("TaskDefinitionArn", "")
    if ":task-definition/" in arn:
        return arn.rsplit("/", 1)[1].rsplit(":", 1)[0]
    assert entry.environment is not None and entry.service is not None
    return naming.task_family(manifest.app, entry.environment, entry.service)


def _image_history(ecs: Any, family: str) -> Iterator[tuple[int, str]]:
    """(revision, image) of the family's task definitions, newest first, read as needed."""
    revisions: dict[int, str] = {}
    for status in ("ACTIVE", "INACTIVE"):
        paginator = ecs.get_paginator("list_task_definitions")
        for page in paginator.paginate(familyPrefix=family, status=status, sort="DESC"):
            for arn in page.get("taskDefinitionArns", []):
                name, _, revision = arn.rsplit("/", 1)[1].rpartition(":")
                if name == family:  # familyPrefix also matches longer names
                    revisions[int(revision)] = arn
    for revision in sorted(revisions, reverse=True)[:HISTORY_LIMIT]:
        described = ecs.describe_task_definition(taskDefinition=revisions[revision])
        containers = described["taskDefinition"].get("containerDefinitions", [])
        if containers:
            yield revision, containers[0].get("image", "")


def _previous(history: Iterator[tuple[int, str]], current: str, family: str) -> tuple[str, str]:
    seen_current = False
    for revision, image in history:
        if image == current:
            seen_current = True
        elif seen_current:
            return image, f"previous image, task definition {family}:{revision}"
    if not seen_current:
        raise OperationError(
            f"the live image {current} is in no task definition revision of {family}; "
            "name the image to return to with --to"
        )
    raise OperationError(
        f"no earlier image in the task definitions of {family}: nothing to roll back to"
    )


def _named(
    clients: Clients, manifest: Manifest, history: Iterator[tuple[int, str]], given: str
) -> tuple[str, str]:
    """The image `given` names: one that ran here before (any registry), else one in ECR."""
    ran: dict[str, tuple[str, int]] = {}
    for revision, image in history:
        digest = digests.of_image(image)
        if digest:
            ran.setdefault(digest, (image, revision))
    found = digests.resolve(given, ran, "the images this service ran")
    if found is not None:
        image, revision = ran[found]
        return image, f"ran before in task definition revision {revision}"
    try:
        in_ecr = find_image(clients, manifest, given)
    except (ClientError, BotoCoreError) as error:
        raise OperationError(
            f"{given} never ran here, and the release repository could not be read to find "
            f"it ({error}); give a digest that ran here before"
        ) from None
    return manifest.image_uri(in_ecr.digest), "from the release repository"


def _apply(
    clients: Clients,
    step: Step,
    name: str,
    description_of: dict[str, str],
    reporter: Reporter,
) -> Outcome:
    entry = step.entry
    cfn = clients.client("cloudformation", entry.account, entry.region)
    parameters = [
        {"ParameterKey": key, "ParameterValue": step.target}
        if key == naming.IMAGE_URI_PARAMETER
        else {"ParameterKey": key, "UsePreviousValue": True}
        for key in sorted(step.live.parameters)
    ]
    change_set = create_change_set(
        cfn,
        entry.name,
        "UPDATE",
        name,
        template={"UsePreviousTemplate": True},
        parameters=parameters,
        capabilities=entry.capabilities,
        tags=entry.tags,
        description=description_of[entry.name],
    )
    if change_set is None:
        return Outcome(entry.name, True, "NO_CHANGES")
    reporter.stack_status(entry.name, "EXECUTING")
    outcome = execute(cfn, change_set, lambda stack, event: report_event(reporter, stack, event))
    reporter.stack_status(entry.name, outcome.status)
    return outcome
