"""Stacks -> deterministic bytes, the manifest, and an all-or-nothing write of templates/."""

from __future__ import annotations

import errno
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from pipelines import image_naming, json_text, limits, naming
from pipelines.builders.pipeline import CAPABILITIES
from pipelines.config.models import Project
from pipelines.conformance.model import StackTemplate
from pipelines.conformance.rules import findings as conformance_findings
from pipelines.errors import LimitError
from pipelines.invoker import names
from pipelines.release import lead_time
from pipelines.release.plan import ReleasePlan, plans_by_image
from pipelines.stacks import Stack, deploy_waves
from pipelines.template_data import template_data

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
INVOKER_PACKAGE = "invoker.zip"


class StackOutput(NamedTuple):
    """A stack's template file: its name, its bytes and how many resources it has."""

    stack: Stack
    file: str
    body: bytes
    resources: int


class Asset(NamedTuple):
    """A file synth writes beside the templates that `deploy` uploads to the artifact bucket
    (the invoker Lambda's package), or only keeps for the CLI (runners.json)."""

    file: str
    body: bytes
    key: str | None  # where deploy uploads it; None: not uploaded
    needed_by: tuple[str, ...] = ()  # stacks that must not be deployed before it is uploaded


def invoker_code_key(assets: tuple[Asset, ...]) -> str | None:
    """Where deploy uploads the invoker's package, which the runner stack reads."""
    return next((a.key for a in assets if a.file == INVOKER_PACKAGE), None)


class Synthesis(NamedTuple):
    """Everything synth writes, in memory: the templates and manifest.json."""

    project: Project
    outputs: list[StackOutput]
    manifest: bytes
    assets: tuple[Asset, ...] = ()

    @property
    def files(self) -> dict[str, bytes]:
        return {
            **{o.file: o.body for o in self.outputs},
            **{a.file: a.body for a in self.assets},
            MANIFEST: self.manifest,
        }


def runner_assets(project: Project) -> tuple[Asset, ...]:
    """The invoker's code package (with the allow-list inside) and runners.json, if the project
    has runners."""
    if not project.runners:
        return ()
    from pipelines.config.runners import runners_document
    from pipelines.invoker.document import DocumentError
    from pipelines.invoker_package import invoker_zip

    try:  # synth reads back what it writes with the invoker's own reader
        document = runners_document(project)
    except DocumentError as error:
        # The configuration's rules are meant to admit only what the reader takes; a case
        # they miss is still one line and exit status 2, never a traceback.
        raise LimitError([f"the runners document cannot be read back: {error}"]) from None
    package = invoker_zip(document)
    key = naming.invoker_code_key(hashlib.sha256(package).hexdigest())
    return (
        Asset(INVOKER_PACKAGE, package, key, (naming.runner_stack(project.app),)),
        Asset(names.RUNNERS_FILE, document.encode(), None),
    )


def configured_in(stack: Stack) -> str:
    """Where in environments/ what makes a stack's template is configured, for limit errors,
    which the templates find but the configuration must fix."""
    env = f"{stack.environment}.yaml"
    if stack.kind == "service":
        return f"set by pipeline.yaml: services.{stack.service} and {env}: services.{stack.service}"
    if stack.kind in ("deploy", "environment-runner"):
        return f"set by {env} and pipeline.yaml: services, runners"
    if stack.kind == "pipeline":
        return "set by pipeline.yaml: promotion, services, and the environment files' steps"
    if stack.kind == "runner":
        return "set by pipeline.yaml: runners, and the environment files' steps"
    return "set by pipeline.yaml"


def to_json(data: Any) -> bytes:
    """The one serialisation of everything synth writes: sorted keys, stable indentation."""
    # One-space indentation, as CDK emits: line-by-line diffs, about 20 % smaller than two
    # spaces, which keeps a 100-service pipeline template well under the 1,000,000-byte limit.
    return (json_text.dumps(data) + "\n").encode()


def render(
    project: Project,
    stacks: list[Stack],
    assets: tuple[Asset, ...] = (),
    plan: ReleasePlan | None = None,
) -> Synthesis:
    outputs, problems, rendered = [], [], []
    for stack in stacks:
        body = template_data(stack.template)
        data = to_json(body)
        problems += [
            f"{problem} ({configured_in(stack)})"
            for problem in limits.limit_problems(stack.name, body, len(data))
        ]
        outputs.append(
            StackOutput(stack, naming.template_file(stack.name), data, len(body["Resources"]))
        )
        rendered.append(
            StackTemplate(
                stack.name,
                stack.kind,
                stack.account,
                stack.region,
                body,
                project.toolchain.account,
            )
        )
    if problems:
        raise LimitError(problems)
    broken = conformance_findings(rendered)
    if broken:
        by_name = {stack.name: stack for stack in stacks}
        raise LimitError([f"{f} ({configured_in(by_name[f.stack])})" for f in broken])
    return Synthesis(project, outputs, to_json(_manifest(project, outputs, assets, plan)), assets)


def _manifest(
    project: Project,
    outputs: list[StackOutput],
    assets: tuple[Asset, ...],
    plan: ReleasePlan | None = None,
) -> dict[str, Any]:
    waves = deploy_waves([o.stack for o in outputs])
    manifest: dict[str, Any] = {
        "version": MANIFEST_VERSION,
        "app": project.app,
    }
    if not project.images:
        manifest["pipeline"] = naming.pipeline_name(project.app)
    manifest["toolchain"] = {
        "account": project.toolchain.account,
        "region": project.toolchain.region,
    }
    if not project.images:
        manifest["image"] = _image(project)
    manifest |= {
        "promotion": [e.name for e in project.environments],
        "environments": _environments(project),
        "templates_bundle": naming.TEMPLATES_BUNDLE_KEY,
        "deploy_order": [
            [o.stack.name for o in outputs if waves[o.stack.name] == w]
            for w in range(max(waves.values()) + 1)
        ],
        "stacks": [
            {
                "name": o.stack.name,
                "kind": o.stack.kind,
                "file": o.file,
                "account": o.stack.account,
                "region": o.stack.region,
                "environment": o.stack.environment,
                "service": o.stack.service,
                "needs": list(o.stack.needs),
                "wave": waves[o.stack.name],
                "parameters": {name: dict(values) for name, values in o.stack.parameters.items()},
                "capabilities": [CAPABILITIES],
                "tags": _tags(project, o.stack),
                "resources": o.resources,
                "bytes": len(o.body),
                "sha256": hashlib.sha256(o.body).hexdigest(),
                "upload_to_s3": limits.needs_upload(len(o.body)),
            }
            for o in outputs
        ],
    }
    if project.images:
        # Several images: which pipeline releases which repository to which services, so that
        # the verbs read it here instead of parsing names.
        plans = plans_by_image(project, plan) if plan is not None else {}
        manifest["images"] = [
            {
                "name": name,
                "pipeline": image_naming.pipeline_name(project.app, name),
                **_image(view),
                "services": sorted(view.services),
                **({"stages": _stages(plans[name])} if name in plans else {}),
            }
            for name in project.images
            for view in [project.for_image(name)]
        ]
    elif plan is not None:
        # The pipeline's stages, whose they are and their actions, so that the verbs never
        # parse stage or action names.
        manifest["stages"] = _stages(plan)
    if assets:
        manifest["assets"] = [
            {
                "file": a.file,
                "key": a.key,
                "needed_by": list(a.needed_by),
                "sha256": hashlib.sha256(a.body).hexdigest(),
            }
            for a in assets
        ]
    return manifest


def _image(project: Project) -> dict[str, Any]:
    return {
        "repository": project.pipeline_image.repository,
        "release_tag": project.pipeline_image.release_tag,
        "bootstrap": project.pipeline_image.bootstrap,
    }


def _stages(plan: ReleasePlan) -> list[dict[str, Any]]:
    """A pipeline's stages, whose they are and their actions."""
    return [
        {
            "name": s.name,
            "environment": s.environment.name if s.environment else None,
            "actions": [
                {"name": a.name, "kind": str(a.kind), "service": a.service}
                if a.service
                else {"name": a.name, "kind": str(a.kind)}
                for a in s.steps
            ],
        }
        for s in plan.stages
    ]


def _environments(project: Project) -> list[dict[str, Any]]:
    """What the operating verbs need to know of each environment without the YAML."""
    waits = {w.environment: w for w in lead_time.estimate(project)}
    return [
        {
            "name": env.name,
            "account": env.account,
            "region": env.region,
            "requires_approval": env.requires_approval,
            "cluster": env.cluster,
            "alarms": list(env.alarms),
            "configured_waits": {
                "rollout_seconds": waits[env.name].rollout,
                "bake_seconds": waits[env.name].bake,
                "total_seconds": waits[env.name].total,
            },
        }
        for env in project.environments
    ]


def _tags(project: Project, stack: Stack) -> dict[str, str]:
    tags = {"pipelines:app": project.app}
    if stack.environment:
        tags["pipelines:environment"] = stack.environment
    if stack.service:
        tags["pipelines:service"] = stack.service
    return tags


class UnsafeOutputError(Exception):
    exit_code = 2


def write_atomically(out: Path, files: dict[str, bytes]) -> None:
    """Replace `out` with exactly `files`, or leave it as it was.

    Everything is written to a sibling directory first and swapped in with renames, so a reader
    never sees half a synth, and a failure part way leaves the previous templates in place. An
    error of the file system is one line naming `out` (UnsafeOutputError, exit status 2).
    """
    out = Path(out)
    try:
        _write_atomically(out, files)
    except OSError as error:
        where = f" ({error.filename})" if error.filename else ""
        raise UnsafeOutputError(f"cannot write {out}: {error.strerror or error}{where}") from None


def _write_atomically(out: Path, files: dict[str, bytes]) -> None:
    blocker = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise UnsafeOutputError(f"cannot write {out}: {blocker} is not a directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    with _locked(out.parent):  # one synth at a time writes beside `out`
        _refuse_foreign(out)
        _remove_strays(out)
        staging = _new_sibling(out, "new")
        try:
            for name, data in sorted(files.items()):
                (staging / name).write_bytes(data)
            os.chmod(staging, 0o755)
            if not out.exists():
                os.rename(staging, out)
            elif _exchange(staging, out):  # `out` is the new output at once; staging the old
                _remove_tree(staging)
            else:
                _replace_in_two_renames(staging, out)
        finally:
            if staging.exists():
                _remove_tree(staging)


def _refuse_foreign(out: Path) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise UnsafeOutputError(f"{out} exists and is not a directory")
    ours = _files_written_by_synth(out)
    foreign = sorted(p.name for p in out.iterdir() if p.name not in ours or not p.is_file())
    if foreign:
        raise UnsafeOutputError(
            f"refusing to replace {out}: it holds files synth did not write "
            f"({', '.join(foreign[:5])}); choose another --out"
        )


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """An exclusive lock on `directory` for as long as the block runs (POSIX flock)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 with RENAME_EXCHANGE); False where the
    system or the file system has no such call."""
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(error, os.strerror(error), str(b))


def _replace_in_two_renames(staging: Path, out: Path) -> None:
    """Where there is no exchange: `out` is missing for the moment between two renames."""
    retired = _new_sibling(out, "old")
    os.rename(out, retired / out.name)
    try:
        os.rename(staging, out)
    except OSError:
        os.rename(retired / out.name, out)
        raise
    _remove_tree(retired)


def _remove_strays(out: Path) -> None:
    """Staging and retired directories an interrupted synth left beside `out`. Under the lock
    no other synth is writing `out`, so every one of them is left over."""
    for stray in out.parent.glob(f".{out.name}.*-*-*"):
        if stray.is_dir() and not stray.is_symlink():
            _remove_tree(stray)


def _remove_tree(directory: Path) -> None:
    """Remove one of our sibling directories: files, and the one level of directory a retired
    output holds. Best effort: what is left is a hidden sibling the next synth removes."""
    try:
        for entry in os.scandir(directory):
            if entry.is_dir(follow_symlinks=False):
                _remove_files_and_directory(Path(entry.path))
            else:
                os.unlink(entry.path)
        os.rmdir(directory)
    except OSError:
        pass


def _new_sibling(out: Path, purpose: str) -> Path:
    """A new, empty, private directory beside `out`, which no other process has.

    (tempfile and shutil would do, but with what they import they cost synth about 4 ms, and
    every directory here holds only the files synth writes.)
    """
    for attempt in range(100):
        candidate = out.parent / f".{out.name}.{purpose}-{os.getpid()}-{attempt}"
        try:
            candidate.mkdir(mode=0o700)
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"no free name for a directory beside {out}")


def _remove_files_and_directory(directory: Path) -> None:
    """Remove a directory of files, best effort: what is left is only a stray hidden sibling."""
    try:
        for entry in os.scandir(directory):
            if entry.is_dir(follow_symlinks=False):
                continue  # only the retired output's own directory; removed by its own call
            os.unlink(entry.path)
        os.rmdir(directory)
    except OSError:
        pass


def _files_written_by_synth(out: Path) -> set[str]:
    """The files an earlier synth wrote into `out`, as its manifest lists them."""
    try:
        manifest = json.loads((out / MANIFEST).read_bytes())
        return {
            MANIFEST,
            *(stack["file"] for stack in manifest["stacks"]),
            *(asset["file"] for asset in manifest.get("assets", [])),
        }
    except (OSError, ValueError, KeyError, TypeError):
        return set()
