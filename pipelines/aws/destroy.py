"""`pipelines destroy`: the app's stacks deleted in the reverse of the order deploy created them.

First the plan, reported line by line: which stacks go, in which order, which buckets are
emptied first, and what stays behind and why. Then, with `--yes` or if the person at the terminal
agrees, the deletion, step by step; a step starts only when every stack of the one before is
gone, and a failure stops before anything later is touched.

AWS rules this relies on:
- A resource with `DeletionPolicy: Retain` stays when its stack is deleted, and keeps costing
  until it is deleted by other means
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html).
  Which resources those are is read from the templates synth wrote, not from a list kept here.
- A bucket is deleted only when it holds nothing: "All objects (including all object versions
  and delete markers) in the bucket must be deleted before the bucket itself can be deleted"
  (DeleteBucket, https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteBucket.html; delete
  markers: https://docs.aws.amazon.com/AmazonS3/latest/userguide/DeleteMarker.html). The artifact
  buckets are versioned, so every version and delete marker is deleted before their stack.
- A service stack imports its environment's log key from the deploy stack, and was last updated
  through the deploy stack's -cfn role, which DeleteStack reuses: so reverse deploy order.
- `--include-retained`: an ECR repository that holds images is deleted only with `force`
  (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_DeleteRepository.html); a KMS key
  is never deleted at once, only scheduled for deletion after a waiting period of 7 to 30 days
  (https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html), during which
  it can be cancelled (CancelKeyDeletion). The shortest period, 7 days, is asked for.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pipelines.aws.cloudformation import (
    STACK_TYPE,
    Failure,
    Live,
    Outcome,
    delete_stack,
    in_progress,
)
from pipelines.aws.errors import FAILED, OK, BadInput, OperationError, error_code, explain
from pipelines.aws.manifest import Manifest, StackEntry, load_manifest
from pipelines.aws.orphans import Orphan
from pipelines.aws.progress import SILENT, Reporter, report_event
from pipelines.aws.session import Clients
from pipelines.aws.stackplan import acting_on, describe_all, parallel

KEY_DELETION_DAYS = 7  # the shortest waiting period ScheduleKeyDeletion accepts
RETAIN_POLICIES = ("Retain", "RetainExceptOnCreate")
BUCKET_TYPE = "AWS::S3::Bucket"
KEY_TYPE = "AWS::KMS::Key"
REPOSITORY_TYPE = "AWS::ECR::Repository"
LOG_GROUP_TYPE = "AWS::Logs::LogGroup"
RUNNER_KINDS = ("runner", "environment-runner")
BATCH = 1000  # DeleteObjects takes at most 1,000 keys a request
# An orphan's step by its kind: the reverse of the deploy waves its kind is in (runner stacks
# after the others of their wave), as `_deletion_steps` orders the manifest's stacks.
ORPHAN_STEPS = {
    "runner": 0,
    "service": 1,
    "pipeline": 1,
    "unknown": 1,
    "environment-runner": 2,
    "deploy": 3,
    "source": 3,
    "artifacts": 3,
}

Confirm = Callable[[str], bool]


@dataclass(frozen=True)
class DestroyOptions:
    templates: Path
    env: str | None = None
    yes: bool = False
    include_retained: bool = False


@dataclass(frozen=True)
class Doomed:
    """A stack that exists and will be deleted, and the buckets emptied before it."""

    entry: StackEntry
    live: Live
    buckets: tuple[str, ...]
    log_groups: tuple[str, ...]


@dataclass(frozen=True)
class Retained:
    """A resource that stays when its stack is deleted (DeletionPolicy Retain)."""

    stack: str
    logical_id: str
    resource_type: str
    physical_id: str  # "" when its stack no longer exists, so it cannot be found from it
    account: str
    region: str
    detail: str = ""  # e.g. how many images a repository holds

    @property
    def what(self) -> str:
        names = {
            KEY_TYPE: "KMS key",
            REPOSITORY_TYPE: "ECR repository",
            LOG_GROUP_TYPE: "log group",
        }
        return names.get(self.resource_type, self.resource_type)

    @property
    def why(self) -> str:
        if self.resource_type == KEY_TYPE:
            return "kept so that what it encrypted stays readable; costs a monthly key fee"
        if self.resource_type == REPOSITORY_TYPE:
            return "kept so that released images are not lost; costs image storage"
        return "DeletionPolicy Retain in its template"

    @property
    def removable(self) -> bool:
        """What --include-retained knows how to remove, and can find."""
        return bool(self.physical_id) and self.resource_type in (KEY_TYPE, REPOSITORY_TYPE)

    def line(self) -> str:
        where = f"{self.account}, {self.region}"
        name = self.physical_id or "(its stack is gone: find it by its tags)"
        detail = f", {self.detail}" if self.detail else ""
        return f"  {self.what} {name} ({self.stack} {self.logical_id}; {where}{detail}): {self.why}"


@dataclass
class DestroyPlan:
    app: str
    env: str | None
    steps: list[list[Doomed]]  # deleted in this order; the stacks of one step at once
    absent: list[str]  # stacks the manifest names that do not exist
    retained: list[Retained]
    include_retained: bool
    heading: str = ""  # the first line, when it is not destroy's (prune's)

    @property
    def doomed(self) -> list[Doomed]:
        return [d for step in self.steps for d in step]

    @property
    def empty(self) -> bool:
        return not self.doomed and not self.to_remove

    @property
    def to_remove(self) -> list[Retained]:
        return [r for r in self.retained if r.removable] if self.include_retained else []

    def lines(self) -> list[str]:
        scope = (
            f"environment {self.env} of {self.app}" if self.env else f"every stack of {self.app}"
        )
        out = [self.heading or f"destroy: {scope}"]
        if not self.doomed:
            out.append("no stack of it exists")
        for number, step in enumerate(self.steps, start=1):
            out.append(f"step {number} of {len(self.steps)}, deleted together:")
            for d in step:
                out.append(f"  {d.entry.name} ({d.entry.account}, {d.entry.region})")
                for bucket in d.buckets:
                    out.append(f"    bucket {bucket}: every object version and delete marker first")
                for group in d.log_groups:
                    out.append(f"    log group {group}: deleted with the stack, with its events")
        if self.absent:
            out.append(f"already gone: {', '.join(self.absent)}")
        if self.retained and not self.heading:
            stays = "removed after the stacks" if self.include_retained else "stays behind"
            out.append(f"{stays} (DeletionPolicy Retain):")
            out.extend(r.line() for r in self.retained)
            if self.include_retained:
                out.extend(_removal(r) for r in self.to_remove)
                missing = [r for r in self.retained if not r.removable]
                if missing:
                    out.append(
                        f"  {len(missing)} of them cannot be found from a stack and stay; "
                        "see docs/teardown.md"
                    )
            else:
                out.append("  --include-retained removes them too")
        elif self.retained:
            out.append("stays behind (DeletionPolicy Retain):")
            out.extend(r.line() for r in self.retained)
        if self.env:
            out.append(
                f"the pipeline still promotes to {self.env}: a release fails at its stage until "
                f"{self.env} is removed from promotion, synthesized and deployed"
            )
        return out


def _removal(r: Retained) -> str:
    if r.resource_type == KEY_TYPE:
        days = KEY_DELETION_DAYS
        return f"  --include-retained: key {r.physical_id} scheduled for deletion in {days} days"
    return f"  --include-retained: repository {r.physical_id} deleted with every image in it"


@dataclass
class DestroyResult:
    plan: DestroyPlan
    declined: bool = False
    deleted: list[str] = field(default_factory=list)
    emptied: dict[str, int] = field(default_factory=dict)  # bucket: versions and markers deleted
    failed: list[Outcome] = field(default_factory=list)
    untouched: list[str] = field(default_factory=list)  # later steps, not started after a failure
    removed: list[str] = field(default_factory=list)  # retained resources removed, as lines
    removed_ids: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.declined and not self.failed

    @property
    def exit_code(self) -> int:
        return OK if self.ok else FAILED

    @property
    def left_behind(self) -> list[Retained]:
        return [r for r in self.plan.retained if r.physical_id not in self.removed_ids]


def destroy(
    clients: Clients,
    options: DestroyOptions,
    reporter: Reporter = SILENT,
    confirm: Confirm | None = None,
) -> DestroyResult:
    """Report the plan; then, with `options.yes` or if `confirm` agrees, carry it out."""
    manifest = load_manifest(options.templates)
    if options.env is not None:
        manifest.check_environment(options.env)
    plan = plan_destroy(clients, manifest, options)
    for line in plan.lines():
        reporter.info(line)
    if plan.empty:
        return DestroyResult(plan)
    if not options.yes and confirm is None:
        raise BadInput(
            "destroy deletes the stacks listed above and asks first: run it on a terminal, "
            "or pass --yes to run unattended"
        )
    question = f"delete {len(plan.doomed)} stack{'s' * (len(plan.doomed) != 1)}"
    question += " and the retained resources named above?" if plan.to_remove else "?"
    if not options.yes and not (confirm is not None and confirm(question)):
        return DestroyResult(plan, declined=True)

    return carry_out(clients, plan, reporter)


def carry_out(clients: Clients, plan: DestroyPlan, reporter: Reporter = SILENT) -> DestroyResult:
    """Delete what the plan lists, step by step; a failed step stops before anything later."""
    result = DestroyResult(plan)
    for number, step in enumerate(plan.steps, start=1):
        reporter.info(
            f"\nstep {number} of {len(plan.steps)}: {', '.join(d.entry.name for d in step)}"
        )
        for d in step:
            for bucket in d.buckets:
                count = _empty_bucket(clients, d.entry, bucket)
                result.emptied[bucket] = count
                reporter.info(f"emptied {bucket}: {count} object versions and delete markers")
        outcomes = _delete_step(clients, step, reporter)
        result.deleted += [o.stack for o in outcomes if o.ok]
        result.failed = [o for o in outcomes if not o.ok]
        if result.failed:
            result.untouched = [d.entry.name for later in plan.steps[number:] for d in later]
            return result
    for retained in plan.to_remove:
        result.removed.append(_remove(clients, retained))
        result.removed_ids.add(retained.physical_id)
        reporter.info(result.removed[-1])
    return result


def plan_destroy(clients: Clients, manifest: Manifest, options: DestroyOptions) -> DestroyPlan:
    """What exists of the app (or the environment), in deletion order, and what it retains."""
    entries = manifest.environment_stacks(options.env) if options.env else list(manifest.stacks)
    live = describe_all(clients, entries)
    busy = [
        f"{name} is {s.status}: wait for that operation to finish, then re-run"
        for name, s in live.items()
        if s is not None and in_progress(s.status)
    ]
    if busy:
        raise OperationError("\n".join(busy))
    present = [e for e in entries if live[e.name] is not None]

    def read(entry: StackEntry) -> tuple[Doomed, list[Retained]]:
        state = live[entry.name]
        assert state is not None
        with acting_on(clients, entry):
            return _inspect(clients, manifest.body(entry), entry, state)

    inspected = dict(zip([e.name for e in present], parallel(read, present), strict=True))
    retained = [r for e in entries for r in _retained_in(manifest, e, inspected)]
    steps = _deletion_steps(manifest, [inspected[e.name][0] for e in present])
    absent = [e.name for e in entries if live[e.name] is None]
    return DestroyPlan(manifest.app, options.env, steps, absent, retained, options.include_retained)


def plan_prune(clients: Clients, app: str, orphans: list[Orphan]) -> DestroyPlan:
    """Stacks the manifest no longer names, in the order destroy deletes their kinds.

    Their templates are no longer in templates/: the buckets to empty and the resources that
    stay are read from the template each stack was last deployed with (GetTemplate,
    https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_GetTemplate.html).
    """
    busy = [
        f"{o.entry.name} is {o.live.status}: wait for that operation to finish, then re-run"
        for o in orphans
        if in_progress(o.live.status)
    ]
    if busy:
        raise OperationError("\n".join(busy))

    def read(orphan: Orphan) -> tuple[Doomed, list[Retained]]:
        entry = orphan.entry
        with acting_on(clients, entry):
            cfn = clients.client("cloudformation", entry.account, entry.region)
            answer = cfn.get_template(StackName=orphan.live.stack_id, TemplateStage="Original")
            return _inspect(clients, _template_bytes(answer["TemplateBody"]), entry, orphan.live)

    inspected = parallel(read, orphans)
    steps: list[list[Doomed]] = []
    for rank in sorted(set(ORPHAN_STEPS.values())):
        step = [d for d, _ in inspected if ORPHAN_STEPS.get(d.entry.kind, 1) == rank]
        if step:
            steps.append(step)
    retained = [r for _, kept in inspected for r in kept]
    count = f"{len(orphans)} stack{'s' * (len(orphans) != 1)}"
    heading = f"prune: {count} of {app} that the manifest no longer names, deleted after the deploy"
    return DestroyPlan(app, None, steps, [], retained, False, heading)


def _template_bytes(body: str | dict[str, Any]) -> bytes:
    """GetTemplate's TemplateBody: botocore hands a JSON template over already parsed."""
    if isinstance(body, dict):
        return json.dumps(body).encode()
    try:
        json.loads(body)
    except ValueError:
        return b"{}"  # not JSON (not a template synth wrote): nothing known to empty or keep
    return body.encode()


def _retained_in(
    manifest: Manifest, entry: StackEntry, inspected: dict[str, tuple[Doomed, list[Retained]]]
) -> list[Retained]:
    if entry.name in inspected:
        return inspected[entry.name][1]
    # The stack is gone: its retained resources may still exist, but nothing here names them.
    return [
        Retained(entry.name, logical, kind, _literal_name(resource), entry.account, entry.region)
        for logical, kind, resource in _retained_resources(manifest.body(entry))
    ]


def _deletion_steps(manifest: Manifest, doomed: list[Doomed]) -> list[list[Doomed]]:
    """Reverse deploy waves; within a wave, the runner stacks after the others."""
    by_name = {d.entry.name: d for d in doomed}
    steps: list[list[Doomed]] = []
    for wave in reversed(manifest.deploy_order):
        present = [by_name[n] for n in wave if n in by_name]
        first = [d for d in present if d.entry.kind not in RUNNER_KINDS]
        last = [d for d in present if d.entry.kind in RUNNER_KINDS]
        steps += [s for s in (first, last) if s]
    return steps


def _inspect(
    clients: Clients, body: bytes, entry: StackEntry, live: Live
) -> tuple[Doomed, list[Retained]]:
    resources = json.loads(body).get("Resources", {})
    cfn = clients.client("cloudformation", entry.account, entry.region)
    physical: dict[str, str] = {}
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=live.stack_id):
        for summary in page["StackResourceSummaries"]:
            if summary.get("PhysicalResourceId"):
                physical[summary["LogicalResourceId"]] = summary["PhysicalResourceId"]
    buckets = tuple(
        physical[logical]
        for logical, resource in resources.items()
        if resource.get("Type") == BUCKET_TYPE
        and resource.get("DeletionPolicy") not in RETAIN_POLICIES
        and logical in physical
    )
    log_groups = tuple(
        physical[logical]
        for logical, resource in resources.items()
        if resource.get("Type") == LOG_GROUP_TYPE
        and resource.get("DeletionPolicy") not in RETAIN_POLICIES
        and logical in physical
    )
    retained = []
    for logical, kind, resource in _retained_resources(body):
        name = physical.get(logical) or _literal_name(resource)
        detail = _repository_detail(clients, entry, name) if kind == REPOSITORY_TYPE else ""
        retained.append(
            Retained(entry.name, logical, kind, name, entry.account, entry.region, detail)
        )
    return Doomed(entry, live, buckets, log_groups), retained


def _retained_resources(body: bytes) -> list[tuple[str, str, dict[str, Any]]]:
    resources = json.loads(body).get("Resources", {})
    return [
        (logical, resource["Type"], resource)
        for logical, resource in resources.items()
        if resource.get("DeletionPolicy") in RETAIN_POLICIES
    ]


def _literal_name(resource: dict[str, Any]) -> str:
    """A name the template gives as plain text (a repository's), else ""."""
    name = resource.get("Properties", {}).get("RepositoryName")
    return name if isinstance(name, str) and resource["Type"] == REPOSITORY_TYPE else ""


def _repository_detail(clients: Clients, entry: StackEntry, repository: str) -> str:
    if not repository:
        return ""
    ecr = clients.client("ecr", entry.account, entry.region)
    try:
        count = sum(
            len(page["imageIds"])
            for page in ecr.get_paginator("list_images").paginate(repositoryName=repository)
        )
    except ClientError as error:
        if error_code(error) == "RepositoryNotFoundException":
            return "already deleted"
        raise
    return f"{count} image{'s' * (count != 1)}"


def _empty_bucket(clients: Clients, entry: StackEntry, bucket: str) -> int:
    """Delete every object version and delete marker; how many there were."""
    s3 = clients.client("s3", entry.account, entry.region)
    deleted = 0
    try:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            keys = [
                {"Key": item["Key"], "VersionId": item["VersionId"]}
                for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            ]
            for start in range(0, len(keys), BATCH):
                batch = keys[start : start + BATCH]
                answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
                if errors := answer.get("Errors"):
                    first = errors[0]
                    raise OperationError(
                        f"{entry.name}: cannot empty bucket {bucket}: {first.get('Key')} "
                        f"{first.get('Code')}: {first.get('Message')}. Nothing later was "
                        "touched; fix the permission and re-run"
                    )
                deleted += len(batch)
    except ClientError as error:
        if error_code(error) == "NoSuchBucket":
            return deleted
        explained = explain(error, clients.where(entry.account, entry.region))
        raise OperationError(
            f"{entry.name}: cannot empty bucket {bucket}: {explained}. Nothing later was touched"
        ) from None
    except BotoCoreError as error:
        raise explain(error, clients.where(entry.account, entry.region)) from None
    return deleted


def _delete_step(clients: Clients, step: list[Doomed], reporter: Reporter) -> list[Outcome]:
    def run(d: Doomed) -> Outcome:
        entry = d.entry
        try:
            with acting_on(clients, entry):
                cfn = clients.client("cloudformation", entry.account, entry.region)
                reporter.stack_status(entry.name, "DELETING")
                outcome = delete_stack(
                    cfn, d.live, lambda stack, event: report_event(reporter, stack, event)
                )
        except OperationError as error:
            outcome = Outcome(
                entry.name,
                False,
                "DELETE_FAILED",
                [Failure(entry.name, STACK_TYPE, "", str(error))],
            )
        reporter.stack_status(entry.name, outcome.status)
        return outcome

    with reporter.watching([d.entry.name for d in step]):
        return parallel(run, step)


def _remove(clients: Clients, retained: Retained) -> str:
    """Delete a retained repository with its images, or schedule a retained key's deletion."""
    where = clients.where(retained.account, retained.region)
    try:
        if retained.resource_type == REPOSITORY_TYPE:
            ecr = clients.client("ecr", retained.account, retained.region)
            try:
                ecr.delete_repository(repositoryName=retained.physical_id, force=True)
            except ClientError as error:
                if error_code(error) != "RepositoryNotFoundException":
                    raise
                return f"repository {retained.physical_id}: already deleted"
            return f"repository {retained.physical_id}: deleted with its images"
        kms = clients.client("kms", retained.account, retained.region)
        try:
            when = kms.schedule_key_deletion(
                KeyId=retained.physical_id, PendingWindowInDays=KEY_DELETION_DAYS
            )["DeletionDate"]
        except ClientError as error:
            # A key already pending deletion is in a state that refuses it again.
            if error_code(error) in ("KMSInvalidStateException", "NotFoundException"):
                return f"key {retained.physical_id}: already scheduled for deletion or deleted"
            raise
        return (
            f"key {retained.physical_id}: deleted on {when:%Y-%m-%d} unless cancelled before "
            "(aws kms cancel-key-deletion)"
        )
    except (ClientError, BotoCoreError) as error:
        raise explain(error, where) from None
