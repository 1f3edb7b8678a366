"""`pipelines diff`: what deploy would change, from the same change sets, which are then deleted.

Exit status 0 means no changes and 1 means changes, so CI can gate on it. A full diff also
lists the app's stacks the manifest no longer names (aws/orphans.py), which `deploy --prune`
would delete: each counts as a change. A stack that does not
exist yet is listed with every resource of its template: a change set for it could not be
planned before the stacks it needs exist, and creating one would leave an empty stack behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pipelines import naming
from pipelines.aws import artifacts, bundle
from pipelines.aws.errors import FAILED, OK
from pipelines.aws.manifest import load_manifest, stale_hint
from pipelines.aws.orphans import Orphan, find_orphans
from pipelines.aws.progress import SILENT, Reporter
from pipelines.aws.session import Clients
from pipelines.aws.stackplan import Prepared, describe_plan, discard_all, own_bootstrap, plan_all


@dataclass(frozen=True)
class DiffOptions:
    templates: Path
    environments: Path
    envs: tuple[str, ...] = ()
    stacks: tuple[str, ...] = ()


@dataclass(frozen=True)
class StackDiff:
    stack: str
    lines: list[str]  # what deploy would do to it, as `describe_plan` words it
    changed: bool
    # A new service stack, and no first image to create it with.
    needs_bootstrap: bool = False


@dataclass
class DiffResult:
    stacks: list[StackDiff] = field(default_factory=list)
    # templates.zip against the bucket's: only when every stack was compared (None otherwise).
    templates: Literal["differs", "missing", "same"] | None = None
    templates_location: str = ""
    # Stacks of the app the manifest no longer names: only when every stack was compared.
    orphans: list[Orphan] = field(default_factory=list)

    @property
    def changes(self) -> int:
        changed = sum(s.changed for s in self.stacks) + (self.templates in ("differs", "missing"))
        return changed + len(self.orphans)

    @property
    def exit_code(self) -> int:
        """1 if deploy would change anything, so CI can gate on it."""
        return FAILED if self.changes else OK


def diff(clients: Clients, options: DiffOptions, reporter: Reporter = SILENT) -> DiffResult:
    manifest = load_manifest(options.templates)
    selected = manifest.select(options.envs, options.stacks)
    entries = [manifest.stack(name) for name in selected]
    bodies = {e.name: manifest.body(e) for e in entries}
    zipped = bundle.templates_zip(manifest)
    if hint := stale_hint(options.templates, options.environments):
        reporter.warning(hint)

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
        result = DiffResult(
            [
                StackDiff(
                    p.entry.name,
                    describe_plan(p),
                    p.has_changes,
                    needs_bootstrap=p.action in ("create", "recreate")
                    and naming.IMAGE_URI_PARAMETER in p.entry.parameters
                    and not (manifest.bootstrap or own_bootstrap(p.entry)),
                )
                for p in prepared
            ]
        )
    finally:
        discard_all(clients, prepared)

    if len(selected) == len(manifest.stacks):
        current = artifacts.bundle_is_current(clients, manifest, zipped)
        result.templates_location = f"s3://{manifest.artifact_bucket}/{manifest.templates_bundle}"
        result.templates = "same" if current else "missing" if current is None else "differs"
        result.orphans = find_orphans(clients, manifest)
    return result
