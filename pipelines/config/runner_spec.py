"""What a runner may run: its image, size, permissions and the allow-list of its scripts.

This is the `runners:` part of pipeline.yaml. The gatekeeper (allowlist.py) admits a request
only if it fits one of these specs exactly.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipelines.aws_facts import fargate_pair_problem
from pipelines.config.permissions import Permission
from pipelines.invoker.defaults import RUNNER_DEFAULTS, SCRIPT_DEFAULTS

# The built-in runners (made in builtin_runners.py), named here so the config model needs only
# this. The tuple is read from the type, so the two cannot differ.
BuiltinName = Literal[
    "cloudformation-planner",
    "cloudformation-applier",
    "terraform-planner",
    "terraform-applier",
    "image-builder",
    "ami-builder",
]
BUILTIN_NAMES: tuple[BuiltinName, ...] = get_args(BuiltinName)
# Where a runner's jobs run.
Platform = Literal["codebuild", "ecs"]
SECRET_ARN_PATTERN = r"arn:aws(?:-cn|-us-gov)?:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _compiles(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as error:
        raise ValueError(f"not a valid regular expression: {error}") from None
    return pattern


class ScriptSpec(_Spec):
    """One allow-listed script of a runner."""

    command: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
    # Non-empty strings and positive sizes wherever the runners document (runner/document.py,
    # which the invoker reads) requires them, so that what synth accepts it can read back.
    options: list[Annotated[str, Field(min_length=1)]] = Field(
        default=[], description="Options always passed, after the command."
    )
    allowed_options: dict[str, Annotated[str, Field(min_length=1)] | None] = Field(
        default={},
        description="Options a caller may pass: option -> regular expression its value must match "
        "in full, or null for a flag that takes no value.",
    )
    positional: bool = Field(default=False, description="Whether positional arguments are allowed.")
    positional_pattern: str = Field(
        default=SCRIPT_DEFAULTS["positional_pattern"],
        min_length=1,
        description="Regular expression each positional argument must match in full.",
    )

    @field_validator("command", "options")
    @classmethod
    def _printable(cls, value: list[str]) -> list[str]:
        # What the spec always passes goes into argv unchecked: it must be plain text too.
        for token in value:
            if any(ord(c) < 32 or ord(c) == 127 for c in token):
                raise ValueError(f"{token!r} holds a control character")
        return value

    @field_validator("allowed_options")
    @classmethod
    def _options(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        for option, pattern in value.items():
            if not re.fullmatch(r"--?[A-Za-z0-9][A-Za-z0-9-]*", option):
                raise ValueError(f"{option!r} is not an option name like --target or -v")
            if pattern is not None:
                _compiles(pattern)
        return value

    @field_validator("positional_pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        return _compiles(value)


class RunnerSpec(_Spec):
    """A locked-down job container: where it runs, what it may run, what it may touch."""

    on: Platform
    image: str = Field(
        min_length=1,
        description="An image URI, or `release` for the image being promoted (by digest; with "
        "several `images`, the image of the pipeline that runs the step).",
    )
    cpu: int = Field(
        default=RUNNER_DEFAULTS["cpu"],
        ge=1,
        description="Largest CPU a run may ask for (Fargate units).",
    )
    memory: int = Field(
        default=RUNNER_DEFAULTS["memory"],
        ge=1,
        description="Largest memory a run may ask for (MiB).",
    )
    max_wait_minutes: Annotated[int, Field(ge=1, le=480)] = RUNNER_DEFAULTS["max_wait_minutes"]
    permissions: list[Permission] = Field(default=[])
    secrets: dict[str, str] = Field(default={})
    privileged: bool = Field(
        default=RUNNER_DEFAULTS["privileged"],
        description="CodeBuild privileged mode (docker builds); never for ECS.",
    )
    scripts: Annotated[
        dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")], ScriptSpec],
        Field(min_length=1),
    ]

    @field_validator("secrets")
    @classmethod
    def _secret_arns(cls, value: dict[str, str]) -> dict[str, str]:
        for name, arn in value.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(f"{name!r} is not an environment variable name")
            if not re.fullmatch(SECRET_ARN_PATTERN, arn, re.ASCII):
                raise ValueError(f"secret {name}: {arn!r} is not a Secrets Manager secret ARN")
        return value

    @model_validator(mode="after")
    def _fargate_size(self) -> RunnerSpec:
        # The largest size a job may ask for must itself be one Fargate can run.
        problem = fargate_pair_problem(self.cpu, self.memory) if self.on == "ecs" else None
        if problem:
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _privileged_only_in_codebuild(self) -> RunnerSpec:
        # ECS on Fargate has no privileged containers; asking for one is a mistake, not a no-op.
        if self.privileged and self.on != "codebuild":
            raise ValueError("privileged is for CodeBuild runners (docker builds) only")
        return self
