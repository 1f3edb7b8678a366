"""What deploy and diff would do to one stack: its change set, with the template and parameters
that decision 2 of DESIGN.md asks for (a service stack keeps its live ImageUri)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from pipelines import naming
from pipelines.aws import artifacts, text
from pipelines.aws.cloudformation import (
    STOP,
    Change,
    ChangeSet,
    Live,
    blocked,
    change_set_type,
    create_change_set,
    describe,
    discard,
    needs_recreate,
    now_stamp,
    pending_release,
)
from pipelines.aws.errors import BadInput, OperationError, explain
from pipelines.aws.manifest import Manifest, StackEntry
from pipelines.aws.session import Clients
from pipelines.conformance import graph

TEMPLATE_BODY_LIMIT = 51_200  # bytes CloudFormation accepts inline; larger ones come from S3
MAX_WORKERS = 8

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Prepared:
    """One stack's planned change: create, update, recreate or none, and what it changes."""

    entry: StackEntry
    live: Live | None
    action: str  # create | update | recreate | none
    changes: tuple[Change, ...] = ()
    change_set: ChangeSet | None = None
    note: str = ""
    # Created in two steps: its artifact store alone first, then everything through that store
    # (its template is too large to send and needs the bucket it makes).
    store_first: bool = False

    @property
    def has_changes(self) -> bool:
        return self.action != "none"


@contextmanager
def acting_on(clients: Clients, entry: StackEntry) -> Iterator[None]:
    """Turn an AWS error into one line that names the stack, account, region and role."""
    try:
        yield
    except OperationError as error:
        if str(error).startswith(entry.name):
            raise
        raise type(error)(f"{entry.name}: {error}", error.exit_code) from None
    except (ClientError, BotoCoreError) as error:
        explained = explain(error, clients.where(entry.account, entry.region))
        raise type(explained)(f"{entry.name}: {explained}", explained.exit_code) from None


def parallel(work: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """`work` on every item in threads, results in item order; the first error is raised after
    every item has finished, so nothing is left running behind the error. On Ctrl-C the
    threads stop waiting at their next poll (CloudFormation goes on with what it started)."""
    items = list(items)
    if not items:
        return []
    pool = ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(items)))
    try:
        futures = [pool.submit(work, item) for item in items]
        wait(futures)
    except BaseException:
        STOP.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    errors = [error for f in futures if (error := f.exception()) is not None]
    if errors:
        raise errors[0]
    return [f.result() for f in futures]


def describe_all(clients: Clients, entries: list[StackEntry]) -> dict[str, Live | None]:
    def one(entry: StackEntry) -> Live | None:
        with acting_on(clients, entry):
            cfn = clients.client("cloudformation", entry.account, entry.region)
            return describe(cfn, entry.name)

    return dict(zip([e.name for e in entries], parallel(one, entries), strict=True))


def check_can_change(
    entries: list[StackEntry], live: dict[str, Live | None], bootstrap: str | None
) -> None:
    """Refuse before touching anything: stacks in a state that takes no change set, and new
    service stacks without a first image."""
    problems = [msg for e in entries if (s := live[e.name]) is not None and (msg := blocked(s))]
    if problems:
        raise OperationError("\n".join(problems))
    new_services = [
        e.name
        for e in entries
        if naming.IMAGE_URI_PARAMETER in e.parameters
        and (change_set_type(live[e.name]) == "CREATE" or needs_recreate(live[e.name]))
        and not (bootstrap or own_bootstrap(e))
    ]
    if new_services:
        raise BadInput(
            f"{', '.join(new_services)} do{'es' if len(new_services) == 1 else ''} not exist yet "
            "and need a first image to start from: pass --bootstrap-image "
            "<registry>/<repository>@sha256:<digest>, or set image.bootstrap in "
            "environments/pipeline.yaml and run `pipelines synth`"
        )


def own_bootstrap(entry: StackEntry) -> str | None:
    """The first image manifest.json records for this service stack: with several images,
    the bootstrap of the image the service runs (`--bootstrap-image` comes before it)."""
    parameter = entry.parameters.get(naming.IMAGE_URI_PARAMETER) or {}
    found = parameter.get("bootstrap")
    return found if isinstance(found, str) else None


def parameters_for(
    entry: StackEntry, kind: str, bootstrap: str | None, looked_up: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """An existing stack keeps every parameter's live value (ImageUri stays on the released
    digest); a new service stack starts from the bootstrap image. Parameters deploy sets
    (`set_by: deploy`) take the value looked up for them, new stack or not."""
    result: list[dict[str, Any]] = []
    for key in sorted(entry.parameters):
        if looked_up and key in looked_up:
            result.append({"ParameterKey": key, "ParameterValue": looked_up[key]})
        elif kind == "UPDATE":
            result.append({"ParameterKey": key, "UsePreviousValue": True})
        elif key == naming.IMAGE_URI_PARAMETER and (first := bootstrap or own_bootstrap(entry)):
            result.append({"ParameterKey": key, "ParameterValue": first})
        else:
            raise BadInput(f"{entry.name}: parameter {key} needs a value to create the stack")
    return result


def looked_up_parameters(clients: Clients, entry: StackEntry) -> dict[str, str]:
    """Values of the parameters deploy sets: a KMS key's ARN, found by its alias in the key's
    own account and region (where an alias resolves)."""
    values: dict[str, str] = {}
    for key, spec in sorted(entry.parameters.items()):
        if spec.get("set_by") != "deploy" or "kms_alias" not in spec:
            continue
        account, region = spec["account"], spec["region"]
        try:
            arn = _key_arn_by_alias(clients.client("kms", account, region), spec["kms_alias"])
        except (ClientError, BotoCoreError) as error:
            raise explain(error, clients.where(account, region)) from None
        if arn is None:
            raise OperationError(
                f"{entry.name}: no KMS key is aliased {spec['kms_alias']} in {account} "
                f"{region}; deploy the stack that makes it first ({spec.get('description', '')})"
            )
        values[key] = arn
    return values


def _key_arn_by_alias(kms: Any, alias: str) -> str | None:
    """The ARN of the key an alias names (ListAliases, which every key policy allows the
    account to read through IAM)."""
    for page in kms.get_paginator("list_aliases").paginate():
        for found in page["Aliases"]:
            if found["AliasName"] == alias and "TargetKeyId" in found:
                arn = str(found["AliasArn"]).rsplit(":", 1)[0]
                return f"{arn}:key/{found['TargetKeyId']}"
    return None


def template_source(
    clients: Clients, manifest: Manifest, entry: StackEntry, body: bytes
) -> dict[str, str]:
    """TemplateBody, or TemplateURL for a template over CloudFormation's inline limit.

    The URL is in the artifact bucket of the stack's region, which is in the toolchain account
    and exists once the stack that makes it is deployed. A stack in another account, or one
    deployed before that bucket exists, gets the template without whitespace inline if that
    fits; otherwise there is no way to send it, and the error says why.
    """
    if not entry.upload_to_s3:
        return {"TemplateBody": body.decode()}
    bucket = manifest.artifact_bucket_in(entry.region)
    if entry.account == manifest.toolchain_account:
        s3 = clients.client("s3", manifest.toolchain_account, entry.region)
        if artifacts.bucket_exists(s3, bucket):
            return {"TemplateURL": artifacts.template_url(clients, manifest, entry, body)}
    compact = compact_json(body)
    if len(compact.encode()) <= TEMPLATE_BODY_LIMIT:
        return {"TemplateBody": compact}
    why = (
        f"the artifact bucket {bucket} does not exist yet"
        if entry.account == manifest.toolchain_account
        else f"CloudFormation in {entry.account} cannot read the toolchain's bucket {bucket}"
    )
    raise OperationError(
        f"{entry.name}: the template is {len(body):,} bytes ({len(compact):,} without "
        f"whitespace), over the {TEMPLATE_BODY_LIMIT:,} bytes CloudFormation accepts inline, "
        f"and {why}. Split the environment's services or deploy the toolchain stacks first"
    )


def needs_store_first(clients: Clients, manifest: Manifest, entry: StackEntry, body: bytes) -> bool:
    """A new toolchain stack whose template is too large to send inline and whose region's
    artifact bucket it makes itself (the pipeline stack of a large app)."""
    if not entry.upload_to_s3 or entry.account != manifest.toolchain_account:
        return False
    if len(compact_json(body).encode()) <= TEMPLATE_BODY_LIMIT or store_only(body) is None:
        return False
    s3 = clients.client("s3", manifest.toolchain_account, entry.region)
    return not artifacts.bucket_exists(s3, manifest.artifact_bucket_in(entry.region))


def store_only(body: bytes) -> bytes | None:
    """The template's artifact store alone: the bucket its pipeline names, the key the bucket
    encrypts with, that key's alias and the bucket's policy, exactly as the full template has
    them, so that the full template's update leaves them as they are. None if it has no store.
    """
    template = json.loads(body)
    resources = template.get("Resources", {})
    pipeline = next(
        (r for r in resources.values() if r.get("Type") == "AWS::CodePipeline::Pipeline"), None
    )
    # The store the template makes itself is the one its pipeline names by Ref.
    location = next(
        (
            s.store.get("Location")
            for s in graph.artifact_stores(pipeline or {})
            if isinstance(s.store.get("Location"), dict)
        ),
        None,
    )
    if not (isinstance(location, dict) and location.get("Ref") in resources):
        return None
    bucket_id = location["Ref"]
    keys = set(graph.bucket_key_ids(resources[bucket_id]))
    kept = {bucket_id, *keys}
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        if (
            resource.get("Type") == "AWS::KMS::Alias"
            and props.get("TargetKeyId", {}).get("Ref") in keys
        ):
            kept.add(logical_id)
        if resource.get("Type") == "AWS::S3::BucketPolicy" and props.get("Bucket") == {
            "Ref": bucket_id
        }:
            kept.add(logical_id)
    store = {
        "AWSTemplateFormatVersion": template.get("AWSTemplateFormatVersion", "2010-09-09"),
        "Description": template.get("Description", ""),
        "Resources": {k: resources[k] for k in sorted(kept)},
    }
    return json.dumps(store, separators=(",", ":"), sort_keys=True).encode()


def compact_json(body: bytes) -> str:
    return json.dumps(json.loads(body), separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def template_changes(body: bytes) -> tuple[Change, ...]:
    """A new stack adds every resource of its template."""
    resources = json.loads(body).get("Resources", {})
    return tuple(
        Change("Add", name, r.get("Type", ""), "") for name, r in sorted(resources.items())
    )


def plan_stack(
    clients: Clients,
    manifest: Manifest,
    entry: StackEntry,
    body: bytes,
    *,
    bootstrap: str | None,
    purpose: str,
    description: str,
    new_with_change_set: bool,
) -> Prepared:
    """Describe the stack and, unless it is new and `new_with_change_set` is false, create its
    change set. A change set that would change nothing is deleted and reported as none."""
    with acting_on(clients, entry):
        cfn = clients.client("cloudformation", entry.account, entry.region)
        live = describe(cfn, entry.name)
        if live is not None and (message := blocked(live)):
            raise OperationError(message)
        if needs_recreate(live):
            return Prepared(
                entry,
                live,
                "recreate",
                template_changes(body),
                note="its last creation failed and rolled back: it is deleted and created again",
            )
        kind = change_set_type(live)
        if kind == "CREATE" and needs_store_first(clients, manifest, entry, body):
            return Prepared(
                entry,
                live,
                "create",
                template_changes(body),
                note="created in two steps: its artifact store first, then the rest from "
                "the template uploaded there (it is over the size CloudFormation takes inline)",
                store_first=True,
            )
        if kind == "CREATE" and not new_with_change_set:
            return Prepared(entry, live, "create", template_changes(body))
        change_set = create_change_set(
            cfn,
            entry.name,
            kind,
            f"pipelines-{purpose}-{now_stamp()}",
            template=template_source(clients, manifest, entry, body),
            parameters=parameters_for(entry, kind, bootstrap, looked_up_parameters(clients, entry)),
            capabilities=entry.capabilities,
            tags=entry.tags,
            description=description,
        )
        if change_set is None:
            return Prepared(entry, live, "none")
        action = "create" if kind == "CREATE" else "update"
        note = _release_waiting(cfn, manifest, entry, live) if kind == "UPDATE" else ""
        return Prepared(entry, live, action, change_set.changes, change_set, note)


def _release_waiting(cfn: Any, manifest: Manifest, entry: StackEntry, live: Live | None) -> str:
    """Executing another change set makes the pipeline's planned one unusable: say so."""
    if live is None or entry.environment is None or entry.service is None:
        return ""
    name = naming.change_set(manifest.app, entry.environment, entry.service)
    if not pending_release(cfn, live.stack_id, name):
        return ""
    return (
        f"the pipeline's change set {name} waits for approval here; after this update "
        "CloudFormation will not apply it, so that release must be rejected and released again"
    )


def discard_all(clients: Clients, prepared: Iterable[Prepared]) -> None:
    """Delete the change sets that were planned but will not be executed."""

    def one(p: Prepared) -> None:
        if p.change_set is None:
            return
        with acting_on(clients, p.entry):
            discard(clients.client("cloudformation", p.entry.account, p.entry.region), p.change_set)

    parallel(one, list(prepared))


def plan_all(
    clients: Clients,
    manifest: Manifest,
    entries: list[StackEntry],
    bodies: dict[str, bytes],
    **options: Any,
) -> list[Prepared]:
    """plan_stack for every entry at once. If one fails, the change sets the others made are
    deleted before the error is raised."""
    results: dict[str, Prepared] = {}

    def one(entry: StackEntry) -> Prepared:
        prepared = plan_stack(clients, manifest, entry, bodies[entry.name], **options)
        results[entry.name] = prepared
        return prepared

    try:
        return parallel(one, entries)
    except BaseException:
        discard_all(clients, results.values())
        raise


def describe_plan(p: Prepared) -> list[str]:
    where = f"{p.entry.account}, {p.entry.region}"
    if p.action == "none":
        return [f"  {p.entry.name} ({where}): no changes"]
    verb = {"create": "create", "update": "update", "recreate": "re-create"}[p.action]
    count = len(p.changes)
    head = f"  {p.entry.name} ({where}): {verb}, {count} resource change{'s' * (count != 1)}"
    lines = [head + (f"; {p.note}" if p.note else "")]
    if p.changes:
        lines += text.changes(p.changes)
    else:
        lines.append("    parameters or outputs only: no resource changes listed")
    return lines
