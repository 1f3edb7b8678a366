"""`pipelines deploy`: the manifest's stacks into AWS, wave by wave, through change sets.

Order: the stacks of one wave run at once; a wave starts only when every stack of the previous
one succeeded, so a failure stops before anything that needs the failed stack. A re-run plans
every stack again: what is done shows no changes, and a creation that rolled back is recreated.

templates.zip: the pipeline's Templates source reads it from the toolchain artifact bucket,
which the pipeline stack creates. CodePipeline starts an execution as soon as it creates the
pipeline, and that execution reads templates.zip. The bucket is created before the pipeline
(the pipeline refers to it), so the zip is uploaded the moment the bucket's CREATE_COMPLETE
event arrives, while the rest of the pipeline stack is still being created. After a full
deploy the zip is uploaded again if it changed, so the next release uses these templates.

Stacks of the app the manifest no longer names (a removed service or environment, found by
their tags: aws/orphans.py) are looked up before a full deploy. Without --prune they are only
mentioned; with it they are listed before the first wave, and deleted after the last one
succeeded, by destroy's machinery (aws/destroy.py): services before their environment's runner
and deploy stacks, versioned buckets emptied first, what they retain named. After the deploy,
because the updated pipeline and environments no longer refer to them then.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from pipelines.aws import artifacts, bundle
from pipelines.aws.cloudformation import (
    STACK_TYPE,
    ChangeSet,
    Failure,
    Outcome,
    create_change_set,
    delete_failed_creation,
    execute,
    now_stamp,
)
from pipelines.aws.destroy import DestroyPlan, DestroyResult, carry_out, plan_prune
from pipelines.aws.errors import FAILED, OK, BadInput, OperationError, explain
from pipelines.aws.manifest import (
    Manifest,
    StackEntry,
    check_image_uri,
    load_manifest,
    stale_hint,
)
from pipelines.aws.orphans import Orphan, find_orphans
from pipelines.aws.progress import SILENT, Reporter, report_event
from pipelines.aws.session import Clients
from pipelines.aws.stackplan import (
    Prepared,
    acting_on,
    check_can_change,
    describe_all,
    describe_plan,
    discard_all,
    looked_up_parameters,
    parallel,
    parameters_for,
    plan_all,
    store_only,
    template_source,
)

BUCKET_TYPE = "AWS::S3::Bucket"

Confirm = Callable[[str], bool]  # a yes/no question to the person running the verb
# What became of templates.zip: uploaded, already current, not updated because only some
# stacks were deployed, or not uploaded because the artifact bucket does not exist yet.
TemplatesZip = Literal["uploaded", "unchanged", "partial", "no bucket"]


@dataclass(frozen=True)
class DeployOptions:
    templates: Path
    environments: Path
    envs: tuple[str, ...] = ()
    stacks: tuple[str, ...] = ()
    yes: bool = False
    bootstrap_image: str | None = None
    prune: bool = False  # delete the stacks the manifest no longer names, after deploying


@dataclass(eq=False)
class DeployResult:
    """What a deploy did. Nothing more happens after a declined or failed wave."""

    waves: int
    declined: bool = False  # the person said no to a wave's change sets; they are deleted
    failed: list[Outcome] = field(default_factory=list)  # the stacks of the wave that failed
    later_waves: bool = False  # the failed wave was not the last: later ones were not touched
    templates: TemplatesZip | None = None  # once every wave succeeded
    templates_location: str = ""
    # Stacks the manifest no longer names (a full deploy looks them up), and, with --prune,
    # what became of their deletion (None: nothing to prune, or the deploy did not succeed).
    orphans: list[Orphan] = field(default_factory=list)
    pruned: DestroyResult | None = None

    @property
    def ok(self) -> bool:
        pruned = self.pruned is None or self.pruned.ok
        return not self.declined and not self.failed and pruned

    @property
    def exit_code(self) -> int:
        return OK if self.ok else FAILED


def deploy(
    clients: Clients,
    options: DeployOptions,
    reporter: Reporter = SILENT,
    confirm: Confirm | None = None,
) -> DeployResult:
    """Deploy the selected stacks wave by wave. Without `options.yes`, `confirm` is asked
    before each wave's change sets are executed; without either, deploy refuses to start."""
    manifest = load_manifest(options.templates)
    selected = manifest.select(options.envs, options.stacks)
    everything = len(selected) == len(manifest.stacks)
    entries = {name: manifest.stack(name) for name in selected}
    bodies = {name: manifest.body(entry) for name, entry in entries.items()}
    zipped = bundle.templates_zip(manifest)
    bootstrap = (
        check_image_uri(options.bootstrap_image, "--bootstrap-image")
        if options.bootstrap_image
        else manifest.bootstrap
    )
    if not options.yes and confirm is None:
        raise BadInput("deploy asks before executing change sets: pass --yes to run unattended")
    if options.prune and not everything:
        raise BadInput(
            "--prune deletes the stacks the manifest no longer names after a deploy of every "
            "stack: run it without --env and --stack"
        )
    if hint := stale_hint(options.templates, options.environments):
        reporter.warning(hint)

    caller = clients.caller
    reporter.info(f"deploying {len(selected)} of {len(manifest.stacks)} stacks as {caller.arn}")
    check_can_change(
        list(entries.values()), describe_all(clients, list(entries.values())), bootstrap
    )
    orphans = find_orphans(clients, manifest) if everything else []
    prune = plan_prune(clients, manifest.app, orphans) if options.prune and orphans else None
    if prune is not None:
        for line in prune.lines():
            reporter.info(line)
    publisher = _Publisher(clients, manifest, zipped, reporter)
    description = f"pipelines deploy by {caller.arn}"

    waves = [[n for n in wave if n in entries] for wave in manifest.deploy_order]
    waves = [w for w in waves if w]
    for number, wave in enumerate(waves, start=1):
        reporter.info(f"\nwave {number} of {len(waves)}: {', '.join(wave)}")
        _upload_assets(clients, manifest, wave, reporter)
        prepared = plan_all(
            clients,
            manifest,
            [entries[n] for n in wave],
            bodies,
            bootstrap=bootstrap,
            purpose="deploy",
            description=description,
            new_with_change_set=True,
        )
        for p in prepared:
            reporter.info("\n".join(describe_plan(p)))
        todo = [p for p in prepared if p.has_changes]
        if not todo:
            continue
        question = f"execute {len(todo)} change set{'s' * (len(todo) != 1)} of wave {number}?"
        if not options.yes and not (confirm is not None and confirm(question)):
            discard_all(clients, todo)
            return DeployResult(len(waves), declined=True, orphans=orphans)
        outcomes = _execute_wave(
            clients, manifest, todo, bootstrap, description, publisher, reporter
        )
        failed = [o for o in outcomes if not o.ok]
        if failed:
            return DeployResult(
                len(waves), failed=failed, later_waves=number < len(waves), orphans=orphans
            )
    result = DeployResult(
        len(waves),
        templates=_publish_at_end(publisher, everything),
        templates_location=publisher.location,
        orphans=orphans,
    )
    if prune is not None:
        result.pruned = _prune(clients, prune, options.yes, confirm, reporter)
    return result


def _prune(
    clients: Clients,
    plan: DestroyPlan,
    yes: bool,
    confirm: Confirm | None,
    reporter: Reporter,
) -> DestroyResult:
    """Delete the orphans listed before the first wave, if the person agrees (or --yes)."""
    count = len(plan.doomed)
    question = f"delete the {count} stack{'s' * (count != 1)} the manifest no longer names?"
    if not yes and not (confirm is not None and confirm(question)):
        return DestroyResult(plan, declined=True)
    reporter.info(f"\nprune: {', '.join(d.entry.name for d in plan.doomed)}")
    return carry_out(clients, plan, reporter)


def _upload_assets(
    clients: Clients, manifest: Manifest, wave: list[str], reporter: Reporter
) -> None:
    """Upload what the wave's stacks read from the artifact bucket (the invoker's package).

    The bucket is the pipeline stack's, which an earlier wave deployed.
    """
    for asset in manifest.assets:
        if asset.key is None or not set(asset.needed_by) & set(wave):
            continue
        body = manifest.asset_body(asset)
        try:
            uploaded = artifacts.publish_asset(clients, manifest, asset.key, body)
        except (ClientError, BotoCoreError) as error:
            where = clients.where(manifest.toolchain_account, manifest.toolchain_region)
            raise explain(error, where) from None
        location = f"s3://{manifest.artifact_bucket}/{asset.key}"
        reporter.info(f"{asset.file} {'uploaded to' if uploaded else 'already in'} {location}")


def _execute_wave(
    clients: Clients,
    manifest: Manifest,
    todo: list[Prepared],
    bootstrap: str | None,
    description: str,
    publisher: _Publisher,
    reporter: Reporter,
) -> list[Outcome]:
    pipeline_stack = next((s.name for s in manifest.of_kind("pipeline")), None)

    def on_event(stack: str, event: dict[str, Any]) -> None:
        report_event(reporter, stack, event)
        if stack == pipeline_stack and bucket_created(event, manifest.artifact_bucket):
            publisher.publish_early()

    def full_change_set(cfn: Any, entry: StackEntry, kind: str) -> ChangeSet | None:
        """A change set of the stack's whole template, made as planning would make it."""
        return create_change_set(
            cfn,
            entry.name,
            kind,
            f"pipelines-deploy-{now_stamp()}",
            template=template_source(clients, manifest, entry, manifest.body(entry)),
            parameters=parameters_for(
                entry, "CREATE", bootstrap, looked_up_parameters(clients, entry)
            ),
            capabilities=entry.capabilities,
            tags=entry.tags,
            description=description,
        )

    def run(p: Prepared) -> Outcome:
        entry = p.entry
        try:
            with acting_on(clients, entry):
                cfn = clients.client("cloudformation", entry.account, entry.region)
                change_set = p.change_set
                if p.action == "recreate":
                    assert p.live is not None
                    reporter.stack_status(
                        entry.name, "DELETING", "the stack its failed creation left"
                    )
                    delete_failed_creation(cfn, p.live)
                    change_set = full_change_set(cfn, entry, "CREATE")
                if p.store_first:
                    reporter.stack_status(entry.name, "EXECUTING", "its artifact store first")
                    outcome = _create_store_first(clients, manifest, p, description, on_event)
                    if not outcome.ok:
                        return outcome
                    reporter.stack_status(
                        entry.name, "UPDATING", "the rest, from the uploaded template"
                    )
                    change_set = full_change_set(cfn, entry, "UPDATE")
                    if change_set is None:
                        return outcome
                assert change_set is not None
                reporter.stack_status(entry.name, "EXECUTING")
                outcome = execute(cfn, change_set, on_event)
        except OperationError as error:
            outcome = Outcome(
                entry.name, False, "FAILED", [Failure(entry.name, STACK_TYPE, "", str(error))]
            )
        reporter.stack_status(entry.name, outcome.status)
        return outcome

    with reporter.watching([p.entry.name for p in todo]):
        return parallel(run, todo)


def _create_store_first(
    clients: Clients,
    manifest: Manifest,
    prepared: Prepared,
    description: str,
    on_event: Callable[[str, dict[str, Any]], None],
) -> Outcome:
    """Create a stack from its artifact store alone, so that its full template can be read
    from the bucket the store makes (the first deploy of a large app's pipeline stack)."""
    entry = prepared.entry
    store = store_only(manifest.body(entry))
    assert store is not None
    cfn = clients.client("cloudformation", entry.account, entry.region)
    change_set = create_change_set(
        cfn,
        entry.name,
        "CREATE",
        f"pipelines-deploy-{now_stamp()}",
        template={"TemplateBody": store.decode()},
        parameters=[],
        capabilities=entry.capabilities,
        tags=entry.tags,
        description=description,
    )
    assert change_set is not None  # a new stack always has changes
    return execute(cfn, change_set, on_event)


def bucket_created(event: dict[str, Any], bucket: str) -> bool:
    """The stack event that says the artifact bucket exists (and the pipeline does not yet)."""
    return (
        event.get("ResourceType") == BUCKET_TYPE
        and event.get("ResourceStatus") == "CREATE_COMPLETE"
        and event.get("PhysicalResourceId") == bucket
    )


class _Publisher:
    """Uploads templates.zip at most once per run, from whichever thread gets there first."""

    def __init__(
        self, clients: Clients, manifest: Manifest, zipped: bytes, reporter: Reporter
    ) -> None:
        self._clients, self._manifest, self._zipped = clients, manifest, zipped
        self._reporter = reporter
        self._lock = threading.Lock()
        self.done = False

    @property
    def location(self) -> str:
        return f"s3://{self._manifest.artifact_bucket}/{self._manifest.templates_bundle}"

    def publish_early(self) -> None:
        """From the pipeline stack's event: its bucket exists, the pipeline is not made yet."""
        try:
            self.publish()
        except OperationError as error:
            self._reporter.info(
                f"templates.zip not uploaded yet ({error}); trying again at the end"
            )
        else:
            self._reporter.info(
                f"templates.zip uploaded to {self.location}, before the pipeline exists"
            )

    def publish(self) -> bool | None:
        """True if uploaded, False if already current, None if the bucket does not exist."""
        with self._lock:
            if self.done:
                return False
            try:
                if artifacts.bundle_is_current(self._clients, self._manifest, self._zipped) is None:
                    return None
                uploaded = artifacts.publish_bundle(self._clients, self._manifest, self._zipped)
            except (ClientError, BotoCoreError) as error:
                where = self._clients.where(
                    self._manifest.toolchain_account, self._manifest.toolchain_region
                )
                raise explain(error, where) from None
            self.done = True
            return uploaded


def _publish_at_end(publisher: _Publisher, everything: bool) -> TemplatesZip:
    if publisher.done:
        return "uploaded"
    if not everything:
        return "partial"
    result = publisher.publish()
    if result is None:
        return "no bucket"
    return "uploaded" if result else "unchanged"
