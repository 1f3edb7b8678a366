"""`pipelines init`: a starter environments/ from flags or answers, checked by a real synth
before anything is written, and never over an existing directory."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.config.loader import PIPELINE_FILE
from pipelines.errors import ConfigError, LimitError

Ask = Callable[[str, str | None], str]  # (question, default) -> answer
PLAIN = re.compile(r"^[A-Za-z][A-Za-z0-9._/-]*$")
YAML_WORDS = {"yes", "no", "on", "off", "true", "false", "null", "y", "n"}


class InitError(Exception):
    """Missing or unusable answers, or a directory that is not empty. Exit status 2."""

    exit_code = 2


@dataclass(frozen=True)
class InitOptions:
    directory: Path
    app: str | None = None
    toolchain_account: str | None = None
    toolchain_region: str | None = None
    promotion: str | None = None  # "dev,staging,prod"
    accounts: tuple[str, ...] = ()  # "ENV=ACCOUNT", or "ACCOUNT" for every environment
    regions: tuple[str, ...] = ()  # "ENV=REGION", or "REGION"
    vpcs: tuple[str, ...] = ()  # "ENV=vpc-…", or "vpc-…"
    subnets: tuple[str, ...] = ()  # "ENV=subnet-a,subnet-b", or "subnet-a,subnet-b"
    service: str | None = None
    port: int | None = None
    repository: str | None = None
    bootstrap_image: str | None = None


@dataclass
class Answers:
    app: str
    toolchain_account: str
    toolchain_region: str
    environments: list[str]
    service: str
    port: int
    repository: str
    bootstrap_image: str | None
    accounts: dict[str, str] = field(default_factory=dict)
    regions: dict[str, str] = field(default_factory=dict)
    vpcs: dict[str, str] = field(default_factory=dict)
    subnets: dict[str, list[str]] = field(default_factory=dict)


def init(options: InitOptions, ask: Ask | None) -> list[Path]:
    """Write the starter files; returns their paths. `ask` is None when nobody can answer."""
    directory = Path(options.directory)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise InitError(
            f"{directory} already exists and is not empty; init never overwrites. Remove it, "
            "or pass --environments with a new directory"
        )
    answers = gather(options, ask)
    files = render(answers)
    check(files, directory)
    return write(directory, files)


def gather(options: InitOptions, ask: Ask | None) -> Answers:
    missing: list[str] = []

    def value(given: str | None, question: str, flag: str, default: str | None = None) -> str:
        if given:
            return given
        if ask is not None:
            return ask(question, default).strip()
        if default is not None:
            return default
        missing.append(flag)
        return ""

    app = value(options.app, "app name (2-24 of a-z, 0-9, -)", "--app")
    account = value(options.toolchain_account, "toolchain account ID", "--toolchain-account")
    region = value(options.toolchain_region, "toolchain region", "--toolchain-region", "eu-west-1")
    names = value(
        options.promotion, "environments, in promotion order", "--promotion", "dev,staging,prod"
    )
    environments = [n.strip() for n in names.split(",") if n.strip()]
    service = value(options.service, "service name", "--service", "web")
    port = options.port or _port(value(None, f"container port of {service}", "--port", "8080"))
    repository = value(
        options.repository, "ECR repository name", "--repository", f"{app}-{service}"
    )
    answers = Answers(
        app, account, region, environments, service, port, repository, options.bootstrap_image
    )

    accounts = _per_environment(options.accounts, environments, "--account")
    regions = _per_environment(options.regions, environments, "--env-region")
    vpcs = _per_environment(options.vpcs, environments, "--vpc")
    subnets = _per_environment(options.subnets, environments, "--subnets")
    for env in environments:
        answers.accounts[env] = accounts.get(env) or value(
            None, f"{env}: account ID", f"--account {env}=…", account
        )
        answers.regions[env] = regions.get(env) or value(
            None, f"{env}: region", f"--env-region {env}=…", region
        )
        answers.vpcs[env] = vpcs.get(env) or value(
            None, f"{env}: VPC ID (vpc-…)", f"--vpc {env}=vpc-…"
        )
        listed = subnets.get(env) or value(
            None, f"{env}: subnet IDs, comma-separated", f"--subnets {env}=subnet-…,subnet-…"
        )
        answers.subnets[env] = [s.strip() for s in listed.split(",") if s.strip()]
    if missing:
        raise InitError(
            "nobody to ask (stdin is not a terminal); give these: "
            + ", ".join(dict.fromkeys(missing))
        )
    return answers


def _port(answer: str) -> int:
    try:
        return int(answer or 0)
    except ValueError:
        raise InitError(f"port {answer!r} is not a number") from None


def _per_environment(values: tuple[str, ...], environments: list[str], flag: str) -> dict[str, str]:
    """`ENV=VALUE` entries, and a bare `VALUE` that applies to every environment."""
    result: dict[str, str] = {}
    for item in values:
        env, equals, value = item.partition("=")
        if not equals:
            result |= dict.fromkeys(environments, item)
        elif env in environments:
            result[env] = value
        else:
            raise InitError(
                f"{flag} {item}: {env!r} is not one of the environments ({', '.join(environments)})"
            )
    return result


def render(answers: Answers) -> dict[str, str]:
    """File name (relative to environments/) -> text."""
    from pipelines.config.schema import json_schema

    promotion = ", ".join(answers.environments)
    bootstrap = (
        f"  bootstrap: {_scalar(answers.bootstrap_image)}\n"
        if answers.bootstrap_image
        else "  # The image a new service stack starts from, before the first release:\n"
        "  # bootstrap: <registry>/<repository>@sha256:<64 hex digits>\n"
    )
    files = {
        PIPELINE_FILE: (
            "# yaml-language-server: $schema=.schema/pipeline.json\n"
            "# Written by `pipelines init`. The app, where its image and pipeline live, and the\n"
            "# order environments are promoted in. See README.md, Configuration reference.\n"
            f"app: {_scalar(answers.app)}\n"
            "toolchain:\n"
            f"  account: {json.dumps(answers.toolchain_account)}\n"
            f"  region: {_scalar(answers.toolchain_region)}\n"
            "image:\n"
            f"  repository: {_scalar(answers.repository)}\n"
            "  release_tag: release\n"
            f"{bootstrap}"
            f"promotion: [{promotion}]\n"
            "services:\n"
            f"  {_scalar(answers.service)}:\n"
            f"    port: {answers.port}\n"
            "    cpu: 256\n"
            "    memory: 512\n"
            "    health_check: {path: /}\n"
        )
    }
    for index, env in enumerate(answers.environments):
        role = (
            "the first environment: every release deploys here directly, without an approval."
            if index == 0
            else "a person approves each release before it lands here."
        )
        subnets = ", ".join(_scalar(s) for s in answers.subnets[env])
        files[f"{env}.yaml"] = (
            "# yaml-language-server: $schema=.schema/environment.json\n"
            f"# {env}: {role}\n"
            f"account: {json.dumps(answers.accounts[env])}\n"
            f"region: {_scalar(answers.regions[env])}\n"
            "network:\n"
            f"  vpc: {_scalar(answers.vpcs[env])}\n"
            f"  subnets: [{subnets}]\n"
        )
    for kind in ("pipeline", "environment"):
        files[f".schema/{kind}.json"] = (
            json.dumps(json_schema(kind), indent=2, sort_keys=True) + "\n"
        )
    return files


def _scalar(value: str) -> str:
    """A YAML scalar: plain where YAML reads it back as the same string, else JSON-quoted."""
    if PLAIN.match(value) and value.lower() not in YAML_WORDS:
        return value
    return json.dumps(value)


def check(files: dict[str, str], directory: Path) -> None:
    """Synthesize the files in a scratch directory: init writes nothing synth would reject."""
    from pipelines.synth import synthesize

    scratch = Path(tempfile.mkdtemp(prefix="pipelines-init-"))
    try:
        _write_all(scratch, files)
        try:
            synthesize(scratch)
        except (ConfigError, LimitError) as error:
            raise InitError(str(error).replace(str(scratch), str(directory))) from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def write(directory: Path, files: dict[str, str]) -> list[Path]:
    """Write into a sibling directory, then rename it into place."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.new-", dir=directory.parent))
    try:
        _write_all(staging, files)
        os.chmod(staging, 0o755)
        if directory.exists():
            directory.rmdir()  # empty, checked above
        os.rename(staging, directory)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return [directory / name for name in files]


def _write_all(root: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
