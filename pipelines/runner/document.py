"""`runners.json`: the allow-list and the invoker's settings, as synth writes them.

Format (version 1), one JSON object:

    {
      "format": 1,
      "app": "shop",                       # names below default from it (see names.py)
      "region": "eu-west-1",               # where the runner stack, its cluster and Lambda live
      "cluster": "shop-runner",            # optional
      "log_group": "/pipelines/shop/runner",   # optional
      "network": {"subnets": ["subnet-..."], "security_groups": ["sg-..."],
                  "assign_public_ip": false},  # required to start ECS jobs
      "environments": ["dev", "staging", "prod"],   # optional: names a job may target
      "task_definitions": {"migrate": "shop-runner-migrate"},   # optional, per runner
      "runners": {"<name>": <RunnerSpec.model_dump(mode="json")>, ...}
    }

The loader is plain Python (no pydantic): the invoker Lambda reads this file with nothing but
the standard library and boto3, which the Lambda runtime provides. It checks every type it
relies on, so a hand-edited file fails with a message, not deep inside a request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines import naming
from pipelines.runner import names

if TYPE_CHECKING:
    from pipelines.runner.spec import RunnerSpec

FORMAT = 1
# The defaults of RunnerSpec and ScriptSpec, repeated because this module must not import
# pydantic; tests/runner/test_document.py checks they stay equal to spec.py's.
DEFAULT_POSITIONAL_PATTERN = r"[A-Za-z0-9_./:@+][A-Za-z0-9_./:@+=,-]{0,255}"
RUNNER_DEFAULTS: dict[str, Any] = {
    "cpu": 256,
    "memory": 512,
    "max_wait_minutes": 60,
    "permissions": [],
    "secrets": {},
    "privileged": False,
}
SCRIPT_DEFAULTS: dict[str, Any] = {
    "options": [],
    "allowed_options": {},
    "positional": False,
    "positional_pattern": DEFAULT_POSITIONAL_PATTERN,
}


class DocumentError(ValueError):
    """runners.json cannot be used."""


@dataclass(frozen=True)
class Script:
    command: tuple[str, ...]
    options: tuple[str, ...]
    allowed_options: Mapping[str, str | None]
    positional: bool
    positional_pattern: str


@dataclass(frozen=True)
class Runner:
    on: str
    image: str
    cpu: int
    memory: int
    max_wait_minutes: int
    privileged: bool
    scripts: Mapping[str, Script]
    # Shown by `pipelines run --describe`; the invoker never needs them.
    permissions: tuple[Mapping[str, Any], ...] = ()
    secrets: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Network:
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]
    assign_public_ip: bool = False


@dataclass(frozen=True)
class RunnersDocument:
    app: str
    runners: Mapping[str, Runner]
    region: str | None = None
    cluster: str = ""
    log_group: str = ""
    network: Network | None = None
    environments: tuple[str, ...] | None = None
    task_definitions: Mapping[str, str] = field(default_factory=dict)

    def task_definition(self, runner: str) -> str:
        return self.task_definitions.get(runner) or naming.runner_task_family(self.app, runner)


def dump_document(
    app: str,
    runners: Mapping[str, RunnerSpec],
    *,
    region: str | None = None,
    network: Network | None = None,
    environments: tuple[str, ...] | None = None,
) -> str:
    """runners.json for these specs, deterministic (sorted keys, one-space indent)."""
    data: dict[str, Any] = {
        "format": FORMAT,
        "app": app,
        "cluster": naming.runner_cluster(app),
        "log_group": naming.runner_log_group(app),
        "runners": {name: spec.model_dump(mode="json") for name, spec in runners.items()},
    }
    if region:
        data["region"] = region
    if network is not None:
        data["network"] = {
            "subnets": list(network.subnets),
            "security_groups": list(network.security_groups),
            "assign_public_ip": network.assign_public_ip,
        }
    if environments is not None:
        data["environments"] = list(environments)
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def load_document_file(path: Path) -> RunnersDocument:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise DocumentError(f"{path}: cannot read the runners document: {error.strerror}") from None
    return load_document(text, source=str(path))


def load_document(text: str, source: str = names.RUNNERS_FILE) -> RunnersDocument:
    try:
        data = json.loads(text)
    except ValueError as error:
        raise DocumentError(f"{source}: not JSON: {error}") from None
    reader = _Reader(source)
    top = reader.mapping(data, "")
    if top.get("format") != FORMAT:
        raise DocumentError(f"{source}: format: expected {FORMAT}, got {top.get('format')!r}")
    app = reader.string(top.get("app"), "app")
    runners = {
        reader.name(name, "runners"): _runner(reader, spec, f"runners.{name}")
        for name, spec in reader.mapping(top.get("runners"), "runners").items()
    }
    network = None
    if top.get("network") is not None:
        raw = reader.mapping(top["network"], "network")
        network = Network(
            subnets=reader.strings(raw.get("subnets"), "network.subnets", min_items=1),
            security_groups=reader.strings(
                raw.get("security_groups"), "network.security_groups", min_items=1
            ),
            assign_public_ip=reader.boolean(
                raw.get("assign_public_ip", False), "network.assign_public_ip"
            ),
        )
    environments = None
    if top.get("environments") is not None:
        environments = reader.strings(top["environments"], "environments")
    task_definitions = {
        reader.name(k, "task_definitions"): reader.string(v, f"task_definitions.{k}")
        for k, v in reader.mapping(top.get("task_definitions", {}), "task_definitions").items()
    }
    region = top.get("region")
    return RunnersDocument(
        app=app,
        runners=runners,
        region=None if region is None else reader.string(region, "region"),
        cluster=reader.string(top.get("cluster", naming.runner_cluster(app)), "cluster"),
        log_group=reader.string(top.get("log_group", naming.runner_log_group(app)), "log_group"),
        network=network,
        environments=environments,
        task_definitions=task_definitions,
    )


def _runner(reader: _Reader, data: Any, where: str) -> Runner:
    raw = {**RUNNER_DEFAULTS, **reader.mapping(data, where)}
    on = raw.get("on")
    if on not in ("ecs", "codebuild"):
        raise DocumentError(f"{reader.source}: {where}.on: expected ecs or codebuild, got {on!r}")
    scripts = reader.mapping(raw.get("scripts"), f"{where}.scripts")
    if not scripts:
        raise DocumentError(f"{reader.source}: {where}.scripts: at least one script")
    return Runner(
        on=on,
        image=reader.string(raw.get("image"), f"{where}.image"),
        cpu=reader.integer(raw["cpu"], f"{where}.cpu"),
        memory=reader.integer(raw["memory"], f"{where}.memory"),
        max_wait_minutes=reader.integer(raw["max_wait_minutes"], f"{where}.max_wait_minutes"),
        privileged=reader.boolean(raw["privileged"], f"{where}.privileged"),
        scripts={
            reader.string(name, f"{where}.scripts"): _script(reader, s, f"{where}.scripts.{name}")
            for name, s in scripts.items()
        },
        permissions=tuple(
            reader.mapping(p, f"{where}.permissions")
            for p in reader.list(raw["permissions"], f"{where}.permissions")
        ),
        secrets={
            reader.string(k, f"{where}.secrets"): reader.string(v, f"{where}.secrets.{k}")
            for k, v in reader.mapping(raw["secrets"], f"{where}.secrets").items()
        },
    )


def _script(reader: _Reader, data: Any, where: str) -> Script:
    raw = {**SCRIPT_DEFAULTS, **reader.mapping(data, where)}
    allowed: dict[str, str | None] = {}
    for option, pattern in reader.mapping(raw["allowed_options"], where).items():
        if not re.fullmatch(r"--?[A-Za-z0-9][A-Za-z0-9-]*", option):
            raise DocumentError(f"{reader.source}: {where}: {option!r} is not an option name")
        allowed[option] = None if pattern is None else reader.pattern(pattern, f"{where}.{option}")
    return Script(
        command=reader.strings(raw.get("command"), f"{where}.command", min_items=1),
        options=reader.strings(raw["options"], f"{where}.options"),
        allowed_options=allowed,
        positional=reader.boolean(raw["positional"], f"{where}.positional"),
        positional_pattern=reader.pattern(raw["positional_pattern"], f"{where}.positional"),
    )


@dataclass(frozen=True)
class _Reader:
    """Type checks that name the file and the key on failure."""

    source: str

    def _fail(self, where: str, expected: str, value: Any) -> DocumentError:
        return DocumentError(
            f"{self.source}: {where or 'document'}: expected {expected}, got {type(value).__name__}"
        )

    def mapping(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self._fail(where, "an object", value)
        return value

    def list(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self._fail(where, "a list", value)
        return value

    def string(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value:
            raise self._fail(where, "a non-empty string", value)
        return value

    def name(self, value: Any, where: str) -> str:
        text = self.string(value, where)
        if not re.fullmatch(r"[a-z][a-z0-9-]*", text):
            raise DocumentError(f"{self.source}: {where}: {text!r} is not a runner name")
        return text

    def strings(self, value: Any, where: str, min_items: int = 0) -> tuple[str, ...]:
        items = tuple(self.string(v, where) for v in self.list(value, where))
        if len(items) < min_items:
            raise DocumentError(f"{self.source}: {where}: at least {min_items} entries")
        return items

    def integer(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self._fail(where, "a positive whole number", value)
        return value

    def boolean(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise self._fail(where, "true or false", value)
        return value

    def pattern(self, value: Any, where: str) -> str:
        text = self.string(value, where)
        try:
            re.compile(text)
        except re.error as error:
            raise DocumentError(f"{self.source}: {where}: bad pattern: {error}") from None
        return text
