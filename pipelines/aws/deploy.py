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
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
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
from pipelines.aws.errors import FAILED, OK, BadInput, OperationError, explain
from pipelines.aws.manifest import (
    Manifest,
    StackEntry,
    check_image_uri,
    load_manifest,
    stale_hint,
)
from pipelines.aws.progress import Progress
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


@dataclass(frozen=True)
class DeployOptions:
    templates: Path
    environments: Path
    envs: tuple[str, ...] = ()
    stacks: tuple[str, ...] = ()
    yes: bool = False
    bootstrap_image: str | None = None
    interactive: bool = False


def deploy(clients: Clients, options: DeployOptions) -> int:
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
    if not options.yes and not options.interactive:
        raise BadInput("deploy asks before executing change sets: pass --yes to run unattended")
    if hint := stale_hint(options.templates, options.environments):
        click.echo(hint, err=True)

    caller = clients.caller
    click.echo(f"deploying {len(selected)} of {len(manifest.stacks)} stacks as {caller.arn}")
    check_can_change(
        list(entries.values()), describe_all(clients, list(entries.values())), bootstrap
    )
    publisher = _Publisher(clients, manifest, zipped)
    description = f"pipelines deploy by {caller.arn}"

    waves = [[n for n in wave if n in entries] for wave in manifest.deploy_order]
    waves = [w for w in waves if w]
    for number, wave in enumerate(waves, start=1):
        click.echo(f"\nwave {number} of {len(waves)}: {', '.join(wave)}")
        _upload_assets(clients, manifest, wave)
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
            click.echo("\n".join(describe_plan(p)))
        todo = [p for p in prepared if p.has_changes]
        if not todo:
            continue
        if not options.yes and not click.confirm(
            f"execute {len(todo)} change set{'s' * (len(todo) != 1)} of wave {number}?",
            default=False,
        ):
            discard_all(clients, todo)
            click.echo("nothing executed; the change sets are deleted")
            return FAILED
        outcomes = _execute_wave(clients, manifest, todo, bootstrap, description, publisher)
        failed = [o for o in outcomes if not o.ok]
        if failed:
            _report_failures(failed, later=number < len(waves))
            return FAILED
    _publish_at_end(publisher, everything)
    click.echo("\ndeploy complete")
    return OK


def _upload_assets(clients: Clients, manifest: Manifest, wave: list[str]) -> None:
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
        click.echo(f"{asset.file} {'uploaded to' if uploaded else 'already in'} {location}")


def _execute_wave(
    clients: Clients,
    manifest: Manifest,
    todo: list[Prepared],
    bootstrap: str | None,
    description: str,
    publisher: _Publisher,
) -> list[Outcome]:
    progress = Progress([p.entry.name for p in todo])
    pipeline_stack = next((s.name for s in manifest.of_kind("pipeline")), None)

    def on_event(stack: str, event: dict[str, Any]) -> None:
        progress.event(stack, event)
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
                    progress.status(entry.name, "DELETING", "the stack its failed creation left")
                    delete_failed_creation(cfn, p.live)
                    change_set = full_change_set(cfn, entry, "CREATE")
                if p.store_first:
                    progress.status(entry.name, "EXECUTING", "its artifact store first")
                    outcome = _create_store_first(clients, manifest, p, description, on_event)
                    if not outcome.ok:
                        return outcome
                    progress.status(entry.name, "UPDATING", "the rest, from the uploaded template")
                    change_set = full_change_set(cfn, entry, "UPDATE")
                    if change_set is None:
                        return outcome
                assert change_set is not None
                progress.status(entry.name, "EXECUTING")
                outcome = execute(cfn, change_set, on_event)
        except OperationError as error:
            outcome = Outcome(
                entry.name, False, "FAILED", [Failure(entry.name, STACK_TYPE, "", str(error))]
            )
        progress.status(entry.name, outcome.status)
        return outcome

    with progress.shown():
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


def _report_failures(failed: list[Outcome], later: bool) -> None:
    for outcome in failed:
        click.echo(f"\n{outcome.stack} failed: {outcome.status}", err=True)
        for failure in outcome.failures:
            click.echo(f"  {failure}", err=True)
    stopped = "No stack of a later wave was touched. " if later else ""
    click.echo(
        f"\n{stopped}CloudFormation rolls a failed stack back by itself. Fix the cause and run "
        "`pipelines deploy` again: stacks that are done show no changes.",
        err=True,
    )


class _Publisher:
    """Uploads templates.zip at most once per run, from whichever thread gets there first."""

    def __init__(self, clients: Clients, manifest: Manifest, zipped: bytes) -> None:
        self._clients, self._manifest, self._zipped = clients, manifest, zipped
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
            click.echo(f"templates.zip not uploaded yet ({error}); trying again at the end")
        else:
            click.echo(f"templates.zip uploaded to {self.location}, before the pipeline exists")

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


def _publish_at_end(publisher: _Publisher, everything: bool) -> None:
    if publisher.done:
        click.echo(f"templates.zip uploaded to {publisher.location}")
        return
    if not everything:
        click.echo(
            "templates.zip not updated: this deploy covered only some stacks. Run `pipelines "
            "deploy` without --env/--stack to publish the templates the next release uses"
        )
        return
    result = publisher.publish()
    if result is None:
        click.echo(f"templates.zip not uploaded: {publisher.location} does not exist yet")
    elif result:
        click.echo(f"templates.zip uploaded to {publisher.location}")
    else:
        click.echo(f"templates.zip unchanged in {publisher.location}")
