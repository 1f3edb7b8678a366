"""templates/manifest.json, as the verbs read it: which stacks, where, in which waves.

The verbs deploy what synth wrote, byte for byte: a template whose SHA-256 differs from the one
the manifest records is refused, because it is not what `pipelines synth` reviewed and wrote.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

from pipelines import naming, patterns
from pipelines.aws.errors import BadInput

MANIFEST = "manifest.json"
SUPPORTED_VERSION = 1
IMAGE_URI_PATTERN = re.compile(patterns.IMAGE_BY_DIGEST)


@dataclass(frozen=True)
class StackEntry:
    name: str
    kind: str  # source | artifacts | deploy | service | pipeline
    file: str
    account: str
    region: str
    environment: str | None
    service: str | None
    needs: tuple[str, ...]
    wave: int
    parameters: dict[str, Any]
    capabilities: tuple[str, ...]
    tags: dict[str, str]
    upload_to_s3: bool
    sha256: str


@dataclass(frozen=True)
class AssetEntry:
    """A file beside the templates that deploy uploads before the stacks that need it."""

    file: str
    key: str | None
    needed_by: tuple[str, ...]
    sha256: str


# The kinds of action (release.plan.StepKind's values) that put a new digest on a service.
# Named here, not imported, so that the verbs need not import the config models.
DEPLOYING_KINDS = frozenset({"deploy", "apply"})


class ActionEntry(NamedTuple):
    """One action of a pipeline stage, as manifest.json records it."""

    name: str
    kind: str  # release.plan.StepKind's value: deploy, plan, approve, apply, run, mark
    service: str | None = None


@dataclass(frozen=True)
class ImageEntry:
    """One image of an app with several: its pipeline, its repository and the services that
    pipeline deploys (manifest.json's `images`)."""

    name: str
    pipeline: str
    repository: str
    release_tag: str
    bootstrap: str | None
    services: tuple[str, ...]
    stages: dict[str, tuple[str, ...]]
    actions: dict[str, tuple[ActionEntry, ...]]


@dataclass(frozen=True)
class Manifest:
    directory: Path
    app: str
    pipeline: str
    toolchain_account: str
    toolchain_region: str
    repository: str
    release_tag: str
    bootstrap: str | None
    promotion: tuple[str, ...]
    templates_bundle: str
    deploy_order: tuple[tuple[str, ...], ...]
    stacks: tuple[StackEntry, ...]
    # Per environment, the waits its templates configure: rollout, bake and total seconds.
    configured_waits: dict[str, dict[str, int]] = field(default_factory=dict)
    assets: tuple[AssetEntry, ...] = ()
    # Per environment, its pipeline stages in order, as synth planned them (empty: an older
    # manifest, whose stages are found by their names).
    stages: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Per stage name, its actions as synth planned them (empty: an older manifest).
    actions: dict[str, tuple[ActionEntry, ...]] = field(default_factory=dict)
    # An app of several images: each of them. Until `for_image` picks one, `pipeline`,
    # `repository`, `release_tag`, `stages` and `actions` are empty.
    images: tuple[ImageEntry, ...] = ()
    # The image `for_image` picked (None: the app's one image).
    image: str | None = None

    @property
    def image_names(self) -> list[str]:
        return [i.name for i in self.images]

    def for_image(self, name: str | None) -> Manifest:
        """The manifest as the verbs of one pipeline see it: that image's pipeline, repository
        and stages, and only the service stacks it deploys. An app of several images needs a
        name; an app of one takes none."""
        if not self.images:
            if name is not None:
                raise BadInput(
                    f"--image {name}: {self.app} has one image ({self.repository}), and --image "
                    "is only for an app of several (`images` in pipeline.yaml); leave it out"
                )
            return self
        listed = ", ".join(self.image_names)
        if name is None:
            raise BadInput(f"{self.app} has several images: pass --image NAME (one of {listed})")
        chosen = next((i for i in self.images if i.name == name), None)
        if chosen is None:
            raise BadInput(
                f"no image {name!r} in {self.directory / MANIFEST} (images: {listed})"
                f"{_close(name, self.image_names)}"
            )
        return replace(
            self,
            pipeline=chosen.pipeline,
            repository=chosen.repository,
            release_tag=chosen.release_tag,
            bootstrap=chosen.bootstrap,
            stages=chosen.stages,
            actions=chosen.actions,
            stacks=tuple(
                e for e in self.stacks if e.kind != "service" or e.service in chosen.services
            ),
            image=chosen.name,
        )

    def service_actions(
        self, stages: tuple[str, ...], service: str, kinds: frozenset[str]
    ) -> set[str]:
        """Names of the actions of these kinds that act on the service, in these stages."""
        return {
            action.name
            for stage in stages
            for action in self.actions.get(stage, ())
            if action.service == service and action.kind in kinds
        }

    def stack(self, name: str) -> StackEntry:
        for entry in self.stacks:
            if entry.name == name:
                return entry
        raise BadInput(
            f"no stack {name!r} in {self.directory / MANIFEST}{_close(name, self.names)}"
        )

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.stacks]

    def of_kind(self, kind: str) -> list[StackEntry]:
        return [e for e in self.stacks if e.kind == kind]

    def environment_stacks(self, env: str) -> list[StackEntry]:
        self.check_environment(env)
        return [e for e in self.stacks if e.environment == env]

    def service_stacks(self, env: str) -> list[StackEntry]:
        return [e for e in self.environment_stacks(env) if e.kind == "service"]

    def environment_home(self, env: str) -> tuple[str, str]:
        """The account and region of an environment, from its stacks."""
        entry = self.environment_stacks(env)[0]
        return entry.account, entry.region

    def check_environment(self, env: str) -> None:
        if env not in self.promotion:
            raise BadInput(
                f"no environment {env!r} in {self.directory / MANIFEST} "
                f"(promotion: {', '.join(self.promotion)}){_close(env, list(self.promotion))}"
            )

    @property
    def registry(self) -> str:
        return naming.image_registry(self.toolchain_account, self.toolchain_region)

    def image_uri(self, digest: str) -> str:
        """The release image by digest, as the pipeline passes it to every service stack."""
        return f"{self.registry}/{self.repository}@{digest}"

    @property
    def artifact_bucket(self) -> str:
        return self.artifact_bucket_in(self.toolchain_region)

    def artifact_bucket_in(self, region: str) -> str:
        return naming.artifact_bucket(self.app, self.toolchain_account, region)

    def body(self, entry: StackEntry) -> bytes:
        """The template bytes, checked against the SHA-256 the manifest records."""
        return self._synthesized(entry.file, entry.sha256, "template")

    def asset_body(self, asset: AssetEntry) -> bytes:
        """The asset's bytes (the invoker's package), checked the same way."""
        return self._synthesized(asset.file, asset.sha256, "file")

    def _synthesized(self, file: str, sha256: str, what: str) -> bytes:
        path = self.directory / file
        try:
            data = path.read_bytes()
        except OSError as error:
            raise BadInput(
                f"{path}: cannot read the {what} ({error.strerror}); run `pipelines synth`"
            ) from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise BadInput(
                f"{path} is not the {what} manifest.json records (SHA-256 differs): it was "
                "edited after synth. Run `pipelines synth` and deploy what it writes"
            )
        return data

    def select(self, environments: tuple[str, ...] = (), stacks: tuple[str, ...] = ()) -> list[str]:
        """Stack names to act on, in manifest order: everything, or the union of the filters.

        `environments` selects each environment's deploy and service stacks; `stacks` names
        stacks one by one.
        """
        if not environments and not stacks:
            return self.names
        chosen = {self.stack(name).name for name in stacks}
        for env in environments:
            chosen |= {e.name for e in self.environment_stacks(env)}
        return [name for name in self.names if name in chosen]


def load_manifest(directory: Path) -> Manifest:
    path = Path(directory) / MANIFEST
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise BadInput(
            f"{path} not found: run `pipelines synth` first, or pass --templates DIR"
        ) from None
    except (OSError, ValueError) as error:
        raise BadInput(f"{path}: cannot read it ({error}); run `pipelines synth` again") from None
    try:
        if data["version"] != SUPPORTED_VERSION:
            raise BadInput(
                f"{path}: manifest version {data['version']} is not {SUPPORTED_VERSION}; "
                "synthesize with this version of pipelines"
            )
        images = tuple(_image_entry(i) for i in data.get("images", ()))
        # An app of several images has no one pipeline or image: `for_image` picks them.
        image = data["image"] if not images else {"repository": "", "release_tag": ""}
        return Manifest(
            directory=Path(directory),
            app=data["app"],
            pipeline=data["pipeline"] if not images else "",
            toolchain_account=data["toolchain"]["account"],
            toolchain_region=data["toolchain"]["region"],
            repository=image["repository"],
            release_tag=image["release_tag"],
            bootstrap=image.get("bootstrap"),
            promotion=tuple(data["promotion"]),
            templates_bundle=data["templates_bundle"],
            deploy_order=tuple(tuple(wave) for wave in data["deploy_order"]),
            stacks=tuple(_entry(s) for s in data["stacks"]),
            configured_waits={
                e["name"]: e["configured_waits"] for e in data.get("environments", [])
            },
            assets=tuple(
                AssetEntry(
                    file=a["file"],
                    key=a.get("key"),
                    needed_by=tuple(a.get("needed_by", ())),
                    sha256=a["sha256"],
                )
                for a in data.get("assets", [])
            ),
            stages=_stages(data.get("stages", [])),
            actions={
                stage["name"]: tuple(
                    ActionEntry(a["name"], a["kind"], a.get("service"))
                    for a in stage.get("actions", ())
                )
                for stage in data.get("stages", [])
            },
            images=images,
        )
    except (KeyError, TypeError) as error:
        raise BadInput(
            f"{path}: not a manifest written by `pipelines synth` (missing {error}); "
            "run `pipelines synth` again"
        ) from None


def _image_entry(data: dict[str, Any]) -> ImageEntry:
    return ImageEntry(
        name=data["name"],
        pipeline=data["pipeline"],
        repository=data["repository"],
        release_tag=data["release_tag"],
        bootstrap=data.get("bootstrap"),
        services=tuple(data["services"]),
        stages=_stages(data.get("stages", [])),
        actions=_actions(data.get("stages", [])),
    )


def _actions(stages: list[dict[str, Any]]) -> dict[str, tuple[ActionEntry, ...]]:
    return {
        stage["name"]: tuple(
            ActionEntry(a["name"], a["kind"], a.get("service")) for a in stage.get("actions", ())
        )
        for stage in stages
    }


def _stages(stages: list[dict[str, Any]]) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for stage in stages:
        if stage.get("environment"):
            found.setdefault(stage["environment"], []).append(stage["name"])
    return {env: tuple(names) for env, names in found.items()}


def _entry(data: dict[str, Any]) -> StackEntry:
    return StackEntry(
        name=data["name"],
        kind=data["kind"],
        file=data["file"],
        account=data["account"],
        region=data["region"],
        environment=data.get("environment"),
        service=data.get("service"),
        needs=tuple(data.get("needs", ())),
        wave=data["wave"],
        parameters=dict(data.get("parameters") or {}),
        capabilities=tuple(data.get("capabilities", ())),
        tags=dict(data.get("tags") or {}),
        upload_to_s3=bool(data.get("upload_to_s3", False)),
        sha256=data["sha256"],
    )


def check_image_uri(uri: str, what: str) -> str:
    if not IMAGE_URI_PATTERN.fullmatch(uri):
        raise BadInput(
            f"{what} {uri!r} is not an image pinned by digest "
            "(<registry>/<repository>@sha256:<64 hex digits>)"
        )
    return uri


def stale_hint(templates: Path, environments: Path) -> str | None:
    """A hint when a file in environments/ changed after synth wrote templates/."""
    try:
        written = (Path(templates) / MANIFEST).stat().st_mtime
        newer = sorted(
            p.name
            for p in Path(environments).glob("*.yaml")
            if p.is_file() and p.stat().st_mtime > written
        )
    except OSError:
        return None
    if not newer:
        return None
    return (
        f"hint: {', '.join(newer)} in {environments}/ changed after {templates}/ was written; "
        "run `pipelines synth` first if you meant to include those changes"
    )


def _close(word: str, choices: list[str]) -> str:
    match = difflib.get_close_matches(word, choices, n=1)
    return f"; did you mean {match[0]!r}?" if match else ""
