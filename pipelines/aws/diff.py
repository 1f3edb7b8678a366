"""`pipelines diff`: what deploy would change, from the same change sets, which are then deleted.

Exit status 0 means no changes and 1 means changes, so CI can gate on it. A stack that does not
exist yet is listed with every resource of its template: a change set for it could not be
planned before the stacks it needs exist, and creating one would leave an empty stack behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

from pipelines import naming
from pipelines.aws import artifacts, bundle
from pipelines.aws.errors import FAILED, OK
from pipelines.aws.manifest import load_manifest, stale_hint
from pipelines.aws.session import Clients
from pipelines.aws.stackplan import Prepared, describe_plan, discard_all, plan_all


@dataclass(frozen=True)
class DiffOptions:
    templates: Path
    environments: Path
    envs: tuple[str, ...] = ()
    stacks: tuple[str, ...] = ()


def diff(clients: Clients, options: DiffOptions) -> int:
    manifest = load_manifest(options.templates)
    selected = manifest.select(options.envs, options.stacks)
    entries = [manifest.stack(name) for name in selected]
    bodies = {e.name: manifest.body(e) for e in entries}
    zipped = bundle.templates_zip(manifest)
    if hint := stale_hint(options.templates, options.environments):
        click.echo(hint, err=True)

    caller = clients.caller
    prepared: list[Prepared] = plan_all(
        clients,
        manifest,
        entries,
        bodies,
        bootstrap=manifest.bootstrap,
        purpose="diff",
        description=f"pipelines diff by {caller.arn}: never executed",
        new_with_change_set=False,
    )
    try:
        for p in prepared:
            click.echo("\n".join(describe_plan(p)))
            if (
                p.action in ("create", "recreate")
                and naming.IMAGE_URI_PARAMETER in p.entry.parameters
                and not manifest.bootstrap
            ):
                click.echo(
                    "    deploy will need --bootstrap-image, or image.bootstrap in "
                    "pipeline.yaml, for the first image of this service"
                )
    finally:
        discard_all(clients, prepared)
    changed = sum(p.has_changes for p in prepared)

    if len(selected) == len(manifest.stacks):
        current = artifacts.bundle_is_current(clients, manifest, zipped)
        location = f"s3://{manifest.artifact_bucket}/{manifest.templates_bundle}"
        if current is False:
            changed += 1
            click.echo(f"  templates.zip: differs from {location}; deploy uploads it")
        elif current is None:
            changed += 1
            click.echo(f"  templates.zip: {location} does not exist yet; deploy uploads it")
        else:
            click.echo("  templates.zip: no changes")
    click.echo(
        f"{changed} change{'s' * (changed != 1)}" if changed else "no changes",
    )
    return FAILED if changed else OK
