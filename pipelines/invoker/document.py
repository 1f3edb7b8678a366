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
      "release_repository": "111111111111.dkr.ecr.eu-west-1.amazonaws.com/shop-web",  # optional
      "release_repositories": ["...shop-web", "...shop-worker"],   # instead, with several images
      "targets": {                         # optional: environments whose jobs run in their own
        "prod": {                          # account, on their `<app>-<env>-runner` stack
          "account": "333333333333",
          "region": "eu-west-1",
          "role": "arn:aws:iam::333333333333:role/shop-prod-runner-invoke",
          "cluster": "shop-prod-runner",             # optional, default from naming.py
          "log_group": "/pipelines/shop/prod/runner",  # optional, default from naming.py
          "stack": "shop-prod-runner",               # optional, default from naming.py
          "subnets": ["subnet-..."],
          "assign_public_ip": false,                 # optional
          "task_definitions": {"migrate": "shop-prod-runner-migrate"},  # optional, per runner
          "hooks": {"web": {"POST_TEST_TRAFFIC_SHIFT": ["smoke.run --url ..."]}}   # optional
        }
      },
      "runners": {"<name>": <RunnerSpec.model_dump(mode="json")>, ...}
    }

With `targets`, a request's environment must be one of them and its job runs in that target:
the invoker assumes `role`, reads the security group from the `SecurityGroup` output of
`stack`, and runs the task on `cluster`. Without `targets`, every job runs on the toolchain's
`cluster` in `network`, as before. `release_repository` is the repository of the image being
promoted: a runner whose image is `release` runs `<release_repository>@sha256:<digest>`, the
digest coming with each request. An app of several images has one release repository per
image, listed in `release_repositories` instead (never both): a request's image may be a
digest of any of them (each image's pipeline passes its own). A target's `hooks` are the steps
each of its services runs as an ECS lifecycle hook, by ECS's stage name, in order: the only jobs
a hook event can start (handler.py, Lifecycle hooks).

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
from typing import Any

from pipelines import naming
from pipelines.invoker import names
from pipelines.invoker.defaults import RUNNER_DEFAULTS, SCRIPT_DEFAULTS

FORMAT = 1
ACCOUNT = re.compile(r"[0-9]{12}")
REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}")
ENVIRONMENT = re.compile(names.ENVIRONMENT_NAME_PATTERN)
HOOK_STAGE = re.compile(r"[A-Z]+(?:_[A-Z]+)*")
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::([0-9]{12}):role/[\w+=,.@/-]{1,512}")
# registry host[:port]/repository, without a tag or a digest (those come with each request).
REPOSITORY = re.compile(r"[A-Za-z0-9.-]+(?::[0-9]{1,5})?/[a-z0-9]+(?:(?:[._-]|__|/)[a-z0-9]+)*")


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
    security_groups: tuple[str, ...] = ()
    assign_public_ip: bool = False
    # Without security_groups: the stack whose SecurityGroup output is the group (synth cannot
    # know the ID of the group the runner stack creates).
    stack: str = ""


@dataclass(frozen=True)
class Target:
    """An environment's own runner: where the invoker runs the jobs of that environment.

    The invoker assumes `role` (in `account`), reads the security group from the output
    naming.RUNNER_SECURITY_GROUP_OUTPUT of `stack`, and runs tasks on `cluster` in `region`,
    in `subnets`, logging to `log_group`. `task_definitions` overrides the family of a runner
    (default naming.env_runner_task_family).
    """

    account: str
    region: str
    role: str
    cluster: str
    log_group: str
    stack: str
    subnets: tuple[str, ...]
    assign_public_ip: bool = False
    task_definitions: Mapping[str, str] = field(default_factory=dict)
    # service -> ECS lifecycle stage (POST_TEST_TRAFFIC_SHIFT, ...) -> its steps, in order.
    hooks: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)

    @classmethod
    def named(
        cls,
        app: str,
        env: str,
        *,
        account: str,
        region: str,
        subnets: tuple[str, ...],
        assign_public_ip: bool = False,
        partition: str = "aws",
        task_definitions: Mapping[str, str] | None = None,
        hooks: Mapping[str, Mapping[str, tuple[str, ...]]] | None = None,
    ) -> Target:
        """The target of `env` with every name from naming.py (the runner stack's names)."""
        return cls(
            account=account,
            region=region,
            role=naming.arn(
                partition, "iam", "", account, f"role/{naming.runner_invoke_role(app, env)}"
            ),
            cluster=naming.env_runner_cluster(app, env),
            log_group=naming.env_runner_log_group(app, env),
            stack=naming.env_runner_stack(app, env),
            subnets=tuple(subnets),
            assign_public_ip=assign_public_ip,
            task_definitions=dict(task_definitions or {}),
            hooks=dict(hooks or {}),
        )


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
    targets: Mapping[str, Target] = field(default_factory=dict)
    # The repositories a `release` runner's image may come from: one, or one per image.
    release_repositories: tuple[str, ...] = ()

    @property
    def release_repository(self) -> str | None:
        """The first (with one image, the only) release repository, or None."""
        return self.release_repositories[0] if self.release_repositories else None

    def task_definition(self, runner: str, target: str | None = None) -> str:
        """The task definition family of a runner: on the toolchain, or in a target."""
        if target is not None:
            found = self.targets[target]
            return found.task_definitions.get(runner) or naming.env_runner_task_family(
                self.app, target, runner
            )
        return self.task_definitions.get(runner) or naming.runner_task_family(self.app, runner)

    @property
    def known_environments(self) -> tuple[str, ...] | None:
        """The environments a request may name: the targets if any, else `environments`."""
        if self.targets:
            return tuple(self.targets)
        return self.environments


def dump_document(
    app: str,
    runners: Mapping[str, Mapping[str, Any]],
    *,
    region: str | None = None,
    network: Network | None = None,
    environments: tuple[str, ...] | None = None,
    targets: Mapping[str, Target] | None = None,
    release_repository: str | None = None,
    task_definitions: Mapping[str, str] | None = None,
    release_repositories: tuple[str, ...] = (),
) -> str:
    """runners.json for these specs, deterministic (sorted keys, one-space indent).

    `targets`: environment name -> where its jobs run (see Target.named for the usual names);
    `release_repository`: the repository the `release` image is pinned from, by digest;
    `release_repositories`: with several images, each of their repositories (one is written as
    `release_repository`, so an app of one image keeps its document).
    """
    data: dict[str, Any] = {
        "format": FORMAT,
        "app": app,
        "cluster": naming.runner_cluster(app),
        "log_group": naming.runner_log_group(app),
        "runners": {name: dict(spec) for name, spec in runners.items()},
    }
    if region:
        data["region"] = region
    if network is not None:
        data["network"] = {
            "subnets": list(network.subnets),
            "security_groups": list(network.security_groups),
            **({"stack": network.stack} if network.stack else {}),
            "assign_public_ip": network.assign_public_ip,
        }
    if environments is not None:
        data["environments"] = list(environments)
    if targets:
        data["targets"] = {
            name: {
                "account": target.account,
                "region": target.region,
                "role": target.role,
                "cluster": target.cluster,
                "log_group": target.log_group,
                "stack": target.stack,
                "subnets": list(target.subnets),
                "assign_public_ip": target.assign_public_ip,
                "task_definitions": dict(target.task_definitions),
                **(
                    {
                        "hooks": {
                            service: {stage: list(steps) for stage, steps in stages.items()}
                            for service, stages in target.hooks.items()
                        }
                    }
                    if target.hooks
                    else {}
                ),
            }
            for name, target in targets.items()
        }
    repositories = ((release_repository,) if release_repository is not None else ()) + tuple(
        r for r in release_repositories if r != release_repository
    )
    if len(repositories) == 1:
        data["release_repository"] = repositories[0]
    elif repositories:
        data["release_repositories"] = list(repositories)
    if task_definitions:
        data["task_definitions"] = dict(task_definitions)
    text = json.dumps(data, indent=1, sort_keys=True) + "\n"
    load_document(text, source="dump_document")  # what synth writes, the invoker can read
    return text


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
        stack = reader.string(raw["stack"], "network.stack") if "stack" in raw else ""
        network = Network(
            subnets=reader.strings(raw.get("subnets"), "network.subnets", min_items=1),
            security_groups=reader.strings(
                raw.get("security_groups", []),
                "network.security_groups",
                min_items=0 if stack else 1,
            ),
            assign_public_ip=reader.boolean(
                raw.get("assign_public_ip", False), "network.assign_public_ip"
            ),
            stack=stack,
        )
    environments = None
    if top.get("environments") is not None:
        environments = reader.strings(top["environments"], "environments")
    task_definitions = {
        reader.name(k, "task_definitions"): reader.string(v, f"task_definitions.{k}")
        for k, v in reader.mapping(top.get("task_definitions", {}), "task_definitions").items()
    }
    targets = {
        _environment(reader, name, environments): _target(reader, app, name, raw)
        for name, raw in reader.mapping(top.get("targets", {}), "targets").items()
    }
    release_repositories: tuple[str, ...] = ()
    release_repository = top.get("release_repository")
    if release_repository is not None:
        reader.matching(release_repository, "release_repository", REPOSITORY, "registry/repository")
        release_repositories = (release_repository,)
    if top.get("release_repositories") is not None:
        if release_repository is not None:
            raise DocumentError(
                f"{reader.source}: release_repositories: write either release_repository or "
                "release_repositories, not both"
            )
        release_repositories = reader.strings(
            top["release_repositories"], "release_repositories", min_items=2
        )
        for index, repository in enumerate(release_repositories):
            reader.matching(
                repository, f"release_repositories[{index}]", REPOSITORY, "registry/repository"
            )
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
        targets=targets,
        release_repositories=release_repositories,
    )


def _environment(reader: _Reader, value: Any, environments: tuple[str, ...] | None) -> str:
    name = reader.matching(value, "targets", ENVIRONMENT, "an environment name like prod")
    if environments is not None and name not in environments:
        raise DocumentError(
            f"{reader.source}: targets.{name}: not one of the environments "
            f"({', '.join(environments) or 'none'})"
        )
    return name


def _target(reader: _Reader, app: str, env: str, data: Any) -> Target:
    where = f"targets.{env}"
    raw = reader.mapping(data, where)
    account = reader.matching(raw.get("account"), f"{where}.account", ACCOUNT, "12 digits")
    role = reader.matching(raw.get("role"), f"{where}.role", ROLE_ARN, "an IAM role ARN")
    role_account = ROLE_ARN.fullmatch(role)
    if role_account is None or role_account.group(1) != account:
        raise DocumentError(f"{reader.source}: {where}.role: not a role of account {account}")
    return Target(
        account=account,
        region=reader.matching(raw.get("region"), f"{where}.region", REGION, "a region"),
        role=role,
        cluster=reader.string(
            raw.get("cluster", naming.env_runner_cluster(app, env)), f"{where}.cluster"
        ),
        log_group=reader.string(
            raw.get("log_group", naming.env_runner_log_group(app, env)), f"{where}.log_group"
        ),
        stack=reader.string(raw.get("stack", naming.env_runner_stack(app, env)), f"{where}.stack"),
        subnets=reader.strings(raw.get("subnets"), f"{where}.subnets", min_items=1),
        assign_public_ip=reader.boolean(
            raw.get("assign_public_ip", False), f"{where}.assign_public_ip"
        ),
        task_definitions={
            reader.name(k, f"{where}.task_definitions"): reader.string(
                v, f"{where}.task_definitions.{k}"
            )
            for k, v in reader.mapping(
                raw.get("task_definitions", {}), f"{where}.task_definitions"
            ).items()
        },
        hooks={
            reader.string(service, f"{where}.hooks"): {
                reader.matching(stage, f"{where}.hooks.{service}", HOOK_STAGE, "a stage name"): (
                    reader.strings(steps, f"{where}.hooks.{service}.{stage}", min_items=1)
                )
                for stage, steps in reader.mapping(stages, f"{where}.hooks.{service}").items()
            }
            for service, stages in reader.mapping(raw.get("hooks", {}), f"{where}.hooks").items()
        },
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

    def matching(self, value: Any, where: str, regex: re.Pattern[str], what: str) -> str:
        text = self.string(value, where)
        if not regex.fullmatch(text):
            raise DocumentError(f"{self.source}: {where}: expected {what}, got {text[:80]!r}")
        return text

    def pattern(self, value: Any, where: str) -> str:
        text = self.string(value, where)
        try:
            re.compile(text)
        except re.error as error:
            raise DocumentError(f"{self.source}: {where}: bad pattern: {error}") from None
        return text
