"""The YAML contract as pydantic models.

`PipelineFile` and `EnvironmentFile` are exactly what a user writes (and what `pipelines schema`
exports); `Project` and `Environment` are the checked, merged view the rest of the tool consumes.

No `from __future__ import annotations` here: pydantic would compile and evaluate every field's
annotation from its string, about 2 ms of each run's 15 ms of building these models.
"""

import re
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
)

from pipelines import patterns
from pipelines.aws_facts import FARGATE_MEMORY_BY_CPU, REGIONS, fargate_pair_problem
from pipelines.config.matches import Matches
from pipelines.config.permissions import Permission
from pipelines.config.runner_spec import (
    BUILTIN_NAMES,
    SECRET_ARN_PATTERN,
    BuiltinName,
    Platform,
    RunnerSpec,
)
from pipelines.errors import unknown_name
from pipelines.invoker.names import MAX_ENVIRONMENT_NAME

NAME_PATTERN = r"^[a-z][a-z0-9-]*[a-z0-9]$|^[a-z]$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


_matches = Matches


def _quoted_account(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(
            'write the account as a quoted string, e.g. "111111111111": YAML reads an unquoted '
            "number as an integer, and one with a leading zero as octal"
        )
    return value


def _known_region(value: str) -> str:
    if value not in REGIONS:
        raise ValueError(f"{value!r} is not an AWS region (for example eu-west-1)")
    return value


def _string_value(value: Any) -> Any:
    """Environment values are strings in ECS; numbers are accepted, booleans are ambiguous."""
    if isinstance(value, bool):
        raise ValueError('quote the value ("true"/"false"): YAML turns yes/no/on/off into booleans')
    if isinstance(value, int | float):
        return str(value)
    return value


AccountId = Annotated[
    str,
    BeforeValidator(_quoted_account),
    _matches(r"\d{12}", "a 12-digit AWS account ID", '"111111111111"'),
]
Region = Annotated[str, AfterValidator(_known_region)]
EnvVarName = Annotated[
    str, _matches(r"[A-Za-z_][A-Za-z0-9_]*", "an environment variable name", "LOG_LEVEL")
]
EnvVarValue = Annotated[str, BeforeValidator(_string_value)]
VariableMap = dict[EnvVarName, EnvVarValue]
Email = Annotated[
    str, _matches(r"[^@\s]+@[^@\s]+\.[^@\s]+", "an email address", "team@example.com")
]
PrincipalArn = Annotated[
    str,
    _matches(
        r"arn:aws(-cn|-us-gov)?:iam::\d{12}:(root|role/[\w+=,.@/-]+|user/[\w+=,.@/-]+)",
        "an IAM role, user or account ARN",
        "arn:aws:iam::444444444444:role/ci",
    ),
]


class Toolchain(_Model):
    """The account and region holding the image repository and the pipeline."""

    account: AccountId
    region: Region


# An image's name goes into its pipeline's names and its resources' logical IDs: lowercase
# letters and digits only (no `-`, so that two names never make one CamelCase ID), and short
# enough that `<app>-<image>-pipeline-trigger` fits IAM's 64 characters with a 24-character app.
MAX_IMAGE_NAME = 16
ImageName = Annotated[
    str,
    _matches(
        rf"[a-z][a-z0-9]{{0,{MAX_IMAGE_NAME - 1}}}",
        f"an image name (1-{MAX_IMAGE_NAME} of a-z and 0-9, starting with a letter)",
        "web",
    ),
]


class Image(_Model):
    """The ECR repository whose release tag starts a release."""

    repository: Annotated[
        str,
        Field(min_length=2, max_length=256),
        _matches(
            r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*",
            "an ECR repository name",
            "shop-web",
        ),
    ]
    release_tag: Annotated[
        str, _matches(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}", "a Docker tag", "release")
    ] = "release"
    keep_images: Annotated[int, Field(ge=1, le=10000, strict=True)] = 50
    push_principals: list[PrincipalArn] = Field(
        default=[],
        description="IAM principals (an external CI) allowed to assume a role that pushes to the "
        "repository. Empty: no push role is created.",
    )
    bootstrap: (
        Annotated[
            str,
            _matches(
                patterns.IMAGE_BY_DIGEST,
                "an image URI pinned by digest",
                "public.ecr.aws/nginx/nginx@sha256:<64 hex digits>",
            ),
        ]
        | None
    ) = Field(
        default=None,
        description="The image a service stack starts from when `pipelines deploy` creates it, "
        "before the first release. Pinned by digest.",
    )


class HealthCheck(_Model):
    path: Annotated[str, _matches(r"/[\x21-\x7e]{0,1023}", "a URL path", "/healthz")] = "/"


_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|secs|seconds?|m|min|mins|minutes?|h)\s*")


def _whole_seconds(value: Any) -> Any:
    """Durations are whole seconds. A value written with a unit gets the number to write instead."""
    if isinstance(value, str):
        match = _DURATION.fullmatch(value)
        if match:
            unit = match.group(2)
            factor = 0.001 if unit == "ms" else 3600 if unit == "h" else 60 if unit[0] == "m" else 1
            seconds = float(match.group(1)) * factor
            hint = f"{seconds:g}" if seconds >= 1 else "at least 1"
            raise ValueError(f"write whole seconds as a plain number ({hint}), not {value!r}")
    if isinstance(value, float):
        raise ValueError(f"write whole seconds, not {value}")
    return value


# Whole seconds: a number, refused with the number to write when written with a unit.
WholeSeconds = Annotated[int, BeforeValidator(_whole_seconds)]


Strategy = Literal["rolling", "blue_green", "canary", "linear"]


def _tenths(value: float) -> float:
    """ECS takes traffic percentages in multiples of 0.1."""
    if abs(value * 10 - round(value * 10)) > 1e-9:
        raise ValueError(f"write the percentage in steps of 0.1, not {value}")
    return round(value, 1)


# ECS: CanaryConfiguration.canaryPercent and LinearConfiguration.stepPercent, multiples of 0.1
# (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CanaryConfiguration.html,
# https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_LinearConfiguration.html).
TrafficPercent = Annotated[
    float, Field(ge=0.1, le=100, allow_inf_nan=False), AfterValidator(_tenths)
]
LinearPercent = Annotated[float, Field(ge=3, le=100, allow_inf_nan=False), AfterValidator(_tenths)]


# ECS's lifecycle stages a hook may run at, in snake_case (DeploymentLifecycleHook.
# lifecycleStages: https://docs.aws.amazon.com/AmazonECS/latest/APIReference/
# API_DeploymentLifecycleHook.html). TEST_TRAFFIC_SHIFT and PRODUCTION_TRAFFIC_SHIFT are left
# out on purpose: ECS runs those hooks again while it rolls a deployment back
# (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-lifecycle-hooks.html),
# and a release job (a smoke test of the new revision) has nothing to do then.
HookStage = Literal[
    "reconcile_service",
    "pre_scale_up",
    "post_scale_up",
    "post_test_traffic_shift",
    "post_production_traffic_shift",
]
# Stages of test traffic: they need a test listener rule (test_traffic_header).
TEST_TRAFFIC_STAGES = frozenset({"post_test_traffic_shift"})


def _hook_step_text(value: Any) -> Any:
    """A hook step is its text alone; a mapping (a `steps` entry with settings) is refused
    with the reason."""
    if isinstance(value, dict):
        raise ValueError(
            "write a hook step as its text alone (`runner.script` and its arguments): settings "
            "such as on_rollback do not apply, as ECS runs none of the stages hooks may use "
            "while it rolls a deployment back"
        )
    return value


HookStepText = Annotated[
    str, BeforeValidator(_hook_step_text), Field(min_length=3, max_length=1000)
]


class TrafficHeader(_Model):
    """An HTTP header that sends a request to the new revision before production traffic moves."""

    name: Annotated[
        str, _matches(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,40}", "an HTTP header name", "X-Canary")
    ]
    value: Annotated[
        str, Field(min_length=1, max_length=128), _matches(r"[\x21-\x7e ]+", "a header value", "1")
    ]


# Rollout settings as a file writes them, every key optional; `resolve_rollout` makes the
# settings in effect (ResolvedRollout) from the two files' and the defaults. The docstring is the
# JSON Schema's description of `rollout`.
class Rollout(_Model):
    """How a deployment rolls out; unset keys keep the value from pipeline.yaml or the default.

    Defaults favour speed without losing safety: see ROLLOUT_DEFAULTS and the README.
    """

    deregistration_delay: Annotated[WholeSeconds, Field(ge=0, le=3600, strict=True)] | None = Field(
        default=None, description="Seconds the load balancer drains an old task (default 30)."
    )
    health_check_interval: Annotated[WholeSeconds, Field(ge=5, le=300, strict=True)] | None = Field(
        default=None, description="Seconds between load balancer health checks (default 10)."
    )
    health_check_timeout: Annotated[WholeSeconds, Field(ge=2, le=120, strict=True)] | None = Field(
        default=None, description="Seconds before a health check counts as failed (default 5)."
    )
    healthy_threshold: Annotated[int, Field(ge=2, le=10, strict=True)] | None = Field(
        default=None, description="Passing checks before a new task takes traffic (default 2)."
    )
    unhealthy_threshold: Annotated[int, Field(ge=2, le=10, strict=True)] | None = Field(
        default=None, description="Failing checks before a task is replaced (default 3)."
    )
    health_check_grace_period: (
        Annotated[WholeSeconds, Field(ge=0, le=2147483647, strict=True)] | None
    ) = Field(
        default=None,
        description="Seconds ECS ignores load balancer health checks of a new task (default 30).",
    )
    stop_timeout: Annotated[WholeSeconds, Field(ge=2, le=120, strict=True)] | None = Field(
        default=None, description="Seconds between SIGTERM and SIGKILL (default 10)."
    )
    minimum_healthy_percent: Annotated[int, Field(ge=0, le=100, strict=True)] | None = Field(
        default=None, description="Tasks kept running during a deployment (default 100)."
    )
    maximum_percent: Annotated[int, Field(ge=100, le=200, strict=True)] | None = Field(
        default=None,
        description="Tasks allowed during a deployment (default 200: every task replaced at once).",
    )

    strategy: Strategy | None = Field(
        default=None,
        description="How ECS moves traffic to a new revision: `rolling` (default: tasks are "
        "replaced in batches), `blue_green` (the new revision starts beside the old one and takes "
        "all traffic at once), `canary` (canary_percent first, the rest after "
        "canary_bake_minutes), `linear` (linear_step_percent at a time, linear_step_bake_minutes "
        "apart). All but `rolling` need the service behind the environment's load balancer. See "
        "docs/rollouts.md.",
    )
    bake_minutes: Annotated[int, Field(ge=0, le=1440, strict=True)] | None = Field(
        default=None,
        description="blue_green, canary, linear: minutes the new revision serves all traffic "
        "while the old one still runs, before ECS removes it (default 15; ECS's "
        "BakeTimeInMinutes).",
    )
    canary_percent: TrafficPercent | None = Field(
        default=None,
        description="canary: percent of production traffic the new revision takes first, "
        "0.1 to 100 in steps of 0.1 (default 5).",
    )
    canary_bake_minutes: Annotated[int, Field(ge=0, le=1440, strict=True)] | None = Field(
        default=None,
        description="canary: minutes before the remaining traffic shifts (default 10).",
    )
    linear_step_percent: LinearPercent | None = Field(
        default=None,
        description="linear: percent of production traffic each step shifts, 3 to 100 in steps "
        "of 0.1 (default 10).",
    )
    linear_step_bake_minutes: Annotated[int, Field(ge=0, le=1440, strict=True)] | None = Field(
        default=None,
        description="linear: minutes between two steps (default 6).",
    )
    test_traffic_header: TrafficHeader | None = Field(
        default=None,
        description="blue_green, canary, linear: requests with this header reach the new "
        "revision through a test listener rule before production traffic shifts.",
    )
    hooks: (
        dict[
            HookStage,
            Annotated[list[HookStepText], Field(min_length=1, max_length=5)],
        ]
        | None
    ) = Field(
        default=None,
        description="blue_green, canary, linear: deploy-runner jobs ECS runs as lifecycle hooks "
        "of each deployment of this service, by lifecycle stage (reconcile_service, "
        "pre_scale_up, post_scale_up, post_test_traffic_shift, post_production_traffic_shift; "
        "ECS's stage names in snake_case). Each entry is a step as `steps` write it "
        "(`runner.script` and its arguments, shell-quoted), on an ECS runner, with fixed "
        "arguments (no #{...} variables); the steps of a stage run one after another, and one "
        "that fails rolls the deployment back. post_test_traffic_shift needs "
        "test_traffic_header. An environment's `hooks` replace pipeline.yaml's; `{}` turns "
        "them off there. See docs/rollouts.md.",
    )

    def written(self) -> dict[str, Any]:
        """The settings this file sets, by key."""
        return {key: getattr(self, key) for key in self.model_dump(exclude_none=True)}


@dataclass(frozen=True)
class ResolvedRollout:
    """The rollout settings in effect for one service in one environment, every one set.

    Made by `resolve_rollout` (and the two tables of defaults below); the loader's checks, the
    builders and the lead-time estimate read only this.
    """

    deregistration_delay: int
    health_check_interval: int
    health_check_timeout: int
    healthy_threshold: int
    unhealthy_threshold: int
    health_check_grace_period: int
    stop_timeout: int
    minimum_healthy_percent: int
    maximum_percent: int
    strategy: str = "rolling"
    # ECS's own defaults for the strategies (BakeTimeInMinutes 15, canary 5 % for 10 minutes,
    # linear 10 % every 6 minutes), written into the template so that it says what happens.
    bake_minutes: int = 15
    canary_percent: float = 5.0
    canary_bake_minutes: int = 10
    linear_step_percent: float = 10.0
    linear_step_bake_minutes: int = 6
    test_traffic_header: TrafficHeader | None = None
    # Lifecycle stage -> its steps' texts, in the order they run (Rollout.hooks).
    hooks: dict[str, list[str]] = field(default_factory=dict)

    @property
    def shifts_traffic(self) -> bool:
        """ECS moves traffic between two target groups (every strategy but rolling)."""
        return self.strategy != "rolling"


ROLLOUT_DEFAULTS = ResolvedRollout(
    deregistration_delay=30,
    health_check_interval=10,
    health_check_timeout=5,
    healthy_threshold=2,
    unhealthy_threshold=3,
    health_check_grace_period=30,
    stop_timeout=10,
    minimum_healthy_percent=100,
    maximum_percent=200,
)

# What ECS and Elastic Load Balancing use when nothing is set, for comparison.
AWS_ROLLOUT_DEFAULTS = ResolvedRollout(
    deregistration_delay=300,
    health_check_interval=30,
    health_check_timeout=5,
    healthy_threshold=5,
    unhealthy_threshold=2,
    health_check_grace_period=0,
    stop_timeout=30,
    minimum_healthy_percent=100,
    maximum_percent=200,
)


def resolve_rollout(pipeline: Rollout, environment: Rollout) -> ResolvedRollout:
    """The settings in effect: the environment's over pipeline.yaml's over ROLLOUT_DEFAULTS."""
    return replace(ROLLOUT_DEFAULTS, **{**pipeline.written(), **environment.written()})


class Service(_Model):
    """One container service, deployed to every environment."""

    port: Annotated[int, Field(ge=1, le=65535, strict=True)] | None = None
    cpu: Annotated[int, Field(strict=True)] = 256
    memory: Annotated[int, Field(strict=True, validate_default=True)] = 512
    health_check: HealthCheck | None = None
    command: list[Annotated[str, Field(min_length=1)]] | None = None
    environment: VariableMap = Field(default={})
    rollout: Rollout = Field(default_factory=Rollout)
    permissions: list[Permission] = Field(
        default=[],
        description="What the containers may do in AWS, as the task role; empty: nothing.",
    )
    path: (
        Annotated[str, _matches(r"/[\x21-\x7e]{0,127}", "a listener path pattern", "/api/*")] | None
    ) = Field(
        default=None,
        description="Path pattern for the load balancer rule, needed when several services share "
        "one host.",
    )
    image: ImageName | None = Field(
        default=None,
        description="With `images`: the name of the image this service runs, whose pipeline "
        "deploys it. Required when there are several images; refused with `image`.",
    )

    @field_validator("cpu")
    @classmethod
    def _fargate_cpu(cls, cpu: int) -> int:
        if cpu not in FARGATE_MEMORY_BY_CPU:
            sizes = ", ".join(str(c) for c in FARGATE_MEMORY_BY_CPU)
            raise ValueError(f"cpu {cpu} is not a Fargate size; use one of {sizes}")
        return cpu

    @field_validator("memory")
    @classmethod
    def _fargate_memory(cls, memory: int, info: ValidationInfo) -> int:
        cpu = info.data.get("cpu")
        problem = fargate_pair_problem(cpu, memory) if cpu is not None else None
        if problem:
            raise ValueError(problem)
        return memory


class Notifications(_Model):
    # Each address is a subscription resource of the pipeline stack, which holds at most 500.
    approvals: list[Email] = Field(default=[], max_length=100)


ServiceName = Annotated[str, _matches(NAME_PATTERN, "a service name", "web")]
EnvironmentName = Annotated[
    str,
    Field(max_length=MAX_ENVIRONMENT_NAME),  # the runner document's limit, and far under AWS's
    _matches(NAME_PATTERN, "an environment name", "prod"),
]


class Network(_Model):
    vpc: Annotated[
        str, _matches(r"vpc-[0-9a-f]{8}(?:[0-9a-f]{9})?", "a VPC ID", "vpc-0123456789abcdef0")
    ]
    subnets: Annotated[
        list[
            Annotated[
                str,
                _matches(
                    r"subnet-[0-9a-f]{8}(?:[0-9a-f]{9})?", "a subnet ID", "subnet-0123456789abcdef0"
                ),
            ]
        ],
        Field(min_length=1, max_length=16),
    ]
    public_ip: Annotated[bool, Field(strict=True)] = False


# The deploy runner ---------------------------------------------------------------------------

RunnerName = Annotated[
    str,
    _matches(
        r"[a-z][a-z0-9-]{0,22}[a-z0-9]",
        "a runner name (2-24 of a-z, 0-9 and -, starting with a letter)",
        "migrate",
    ),
]
ImageUri = Annotated[
    str,
    _matches(
        r"[a-z0-9][a-z0-9.-]*(?::[0-9]+)?/[a-z0-9._/-]+(?::[A-Za-z0-9_][A-Za-z0-9._-]{0,127}"
        rf"|@{patterns.DIGEST})",
        "an image URI with a tag or digest",
        "111111111111.dkr.ecr.eu-west-1.amazonaws.com/pipelines-runner:1.0",
    ),
]
SecretArn = Annotated[
    str,
    _matches(
        SECRET_ARN_PATTERN,
        "a Secrets Manager secret ARN",
        "arn:aws:secretsmanager:eu-west-1:333333333333:secret:shop/db",
    ),
]
StepText = Annotated[str, Field(min_length=3, max_length=1000)]
OnRollback = Literal["run", "skip"]


class StepEntry(_Model):
    """A step with settings: `run` is the step as a plain entry would write it."""

    run: StepText = Field(description="`runner.script` and its arguments, shell-quoted.")
    on_rollback: OnRollback = Field(
        default="run",
        description="`skip`: not run when a stage rollback runs the stage again with an earlier "
        "image (a migration, say); the action succeeds, saying it was skipped. `run`: run as "
        "on any execution. ECS runners only.",
    )
    image: ImageName | None = Field(
        default=None,
        description="With several `images`: the image whose pipeline runs this step (required "
        "there), at its phase of this environment's stage; a runner of the `release` image runs "
        "that image, by digest. Refused with the one `image`. See docs/images.md.",
    )


def _step_kind(value: Any) -> str:
    return "[settings]" if isinstance(value, (dict, StepEntry)) else "[text]"


# A step: its text, or a mapping with its text under `run` and its settings.
StepItem = Annotated[
    Annotated[StepText, Tag("[text]")] | Annotated[StepEntry, Tag("[settings]")],
    Discriminator(_step_kind),
]


class RunnerSettings(_Model):
    """What every runner shares: the image of the built-ins, the toolchain's network."""

    image: ImageUri | None = Field(
        default=None,
        description="The image the built-in runners run: Python with this package, and "
        "terraform, packer or kaniko for the runners that call them. Required with a built-in.",
    )
    network: Network | None = Field(
        default=None,
        description="Toolchain VPC for ECS jobs started without an environment (`pipelines run` "
        "with no --env). Jobs of an environment always run in that environment's network.",
    )


class BuiltinRunner(_Model):
    """A built-in runner, by name; `image-builder` may run on CodeBuild (docker) instead."""

    builtin: BuiltinName
    on: Platform | None = None


def _builtin_shorthand(value: Any) -> Any:
    if isinstance(value, str):
        if value not in BUILTIN_NAMES:
            raise ValueError(
                unknown_name("built-in runner", value, BUILTIN_NAMES)
                + "; or write a mapping with `on`, `image` and `scripts` for a runner of your own"
            )
        return {"builtin": value}
    return value


def _runner_kind(value: Any) -> str:
    if isinstance(value, BuiltinRunner) or (isinstance(value, dict) and "builtin" in value):
        return "[built-in]"
    return "[runner]"


RunnerEntry = Annotated[
    Annotated[BuiltinRunner, Tag("[built-in]")] | Annotated[RunnerSpec, Tag("[runner]")],
    Discriminator(_runner_kind),
    BeforeValidator(_builtin_shorthand),
]


class Steps(_Model):
    """Runner jobs of one environment, each `runner.script` and its arguments, shell-quoted."""

    before_approval: list[StepItem] = Field(
        default=[],
        description="Run before the approval (plans): their `summary` output is shown in the "
        "approval message.",
    )
    before_deploy: list[StepItem] = Field(
        default=[],
        description="Run after the approval, before the services change (migrations, applies).",
    )
    after_deploy: list[StepItem] = Field(
        default=[], description="Run once every service is deployed (smoke tests)."
    )

    def entries(self) -> list[tuple[str, list[StepEntry]]]:
        """Each phase's steps with their settings (a plain entry's are the defaults)."""
        return [
            (phase, [s if isinstance(s, StepEntry) else StepEntry(run=s) for s in items])
            for phase, items in (
                ("before_approval", self.before_approval),
                ("before_deploy", self.before_deploy),
                ("after_deploy", self.after_deploy),
            )
        ]

    def phases(self) -> list[tuple[str, list[str]]]:
        """Each phase's step texts."""
        return [(phase, [e.run for e in entries]) for phase, entries in self.entries()]


class RunnerOverride(_Model):
    """A runner's settings in one environment."""

    secrets: dict[EnvVarName, SecretArn] = Field(
        default={},
        description="Secrets Manager ARNs in this environment's account, as environment "
        "variables of the runner's jobs here (added to, and over, the runner's own).",
    )


class PipelineFile(_Model):
    """environments/pipeline.yaml"""

    app: Annotated[
        str,
        _matches(
            # The app starts every bucket name, and S3 refuses names starting xn--, sthree- or
            # amzn-s3-demo- (https://docs.aws.amazon.com/AmazonS3/latest/userguide/
            # bucketnamingrules.html).
            r"(?!xn--|sthree-|amzn-s3-demo-)[a-z][a-z0-9-]{0,22}[a-z0-9]",
            "an app name (2-24 of a-z, 0-9 and -, starting with a letter, not ending in -, not "
            "starting xn--, sthree- or amzn-s3-demo-, which S3 refuses in bucket names)",
            "shop",
        ),
    ]
    toolchain: Toolchain
    image: Image | None = Field(
        default=None,
        description="The one image every service runs, and its release pipeline. Write either "
        "`image` or `images`, not both.",
    )
    images: Annotated[dict[ImageName, Image], Field(min_length=1)] | None = Field(
        default=None,
        description="Several images by name, each with its own ECR repository and its own "
        "release pipeline that deploys only the services naming it (`services.<s>.image`). "
        "Write either `image` or `images`, not both; with one image, prefer `image`.",
    )
    promotion: Annotated[list[EnvironmentName], Field(min_length=1)]
    services: Annotated[dict[ServiceName, Service], Field(min_length=1)]
    notifications: Notifications = Field(default_factory=Notifications)
    runner: RunnerSettings | None = Field(
        default=None, description="Settings of the deploy runner; needed once `runners` is used."
    )
    runners: dict[RunnerName, RunnerEntry] = Field(
        default={},
        description="Deploy-runner jobs environments may run as `steps`: a built-in's name "
        f"({', '.join(BUILTIN_NAMES)}), or a runner of your own with its allow-listed scripts. "
        "With several `images`, each step names the image whose pipeline runs it.",
    )

    def declared_images(self) -> list[tuple[tuple[str, ...], Image]]:
        """Each image as written, with its key path: `image`, or each of `images`."""
        if self.images is not None:
            return [(("images", name), image) for name, image in self.images.items()]
        return [(("image",), self.image)] if self.image is not None else []


class LoadBalancer(_Model):
    listener_arn: Annotated[
        str,
        _matches(
            r"arn:aws(?:-cn|-us-gov)?:elasticloadbalancing:[a-z0-9-]+:\d{12}:listener/app/"
            r"[A-Za-z0-9-]+/[0-9a-f]+/[0-9a-f]+",
            "an application load balancer listener ARN",
            "arn:aws:elasticloadbalancing:eu-west-1:333333333333:listener/app/shop/0123/4567",
        ),
    ]
    host: Annotated[
        str,
        _matches(
            r"(?:\*\.)?[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
            r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+",
            "a host name",
            "shop.example.com",
        ),
    ]
    priority: Annotated[int, Field(ge=1, le=50000, strict=True)]
    security_group: Annotated[
        str,
        _matches(r"sg-[0-9a-f]{8}(?:[0-9a-f]{9})?", "a security group ID", "sg-0123456789abcdef0"),
    ] = Field(
        description="The load balancer's security group: the only source the service admits "
        "traffic from."
    )


class ServiceSettings(_Model):
    """Per-environment settings of a service declared in pipeline.yaml."""

    desired_count: Annotated[int, Field(ge=0, le=1000, strict=True)] = 1
    environment: VariableMap = Field(default={})
    rollout: Rollout = Field(default_factory=Rollout)
    permissions: list[Permission] = Field(
        default=[],
        description="Added to the service's permissions from pipeline.yaml, in this environment.",
    )
    secrets: dict[
        EnvVarName,
        Annotated[
            str,
            _matches(
                r"arn:aws(?:-cn|-us-gov)?:(?:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+"
                r"|ssm:[a-z0-9-]+:\d{12}:parameter/[\w/.-]+)",
                "a Secrets Manager secret or SSM parameter ARN",
                "arn:aws:secretsmanager:eu-west-1:333333333333:secret:shop/db",
            ),
        ],
    ] = Field(default={})


def _bare_cron(value: Any) -> Any:
    """`cron(...)` as EventBridge writes it is accepted; the rule takes the fields alone."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("cron(") and stripped.endswith(")"):
            return stripped[5:-1].strip()
    return value


class DeployWindow(_Model):
    """When releases may enter the environment's stage: a CodePipeline DeploymentWindow rule."""

    cron: Annotated[str, BeforeValidator(_bare_cron), Field(min_length=9, max_length=256)] = Field(
        description="The window's days and times as CodePipeline's DeploymentWindow rule reads "
        "them: six fields (seconds minutes hours day-of-month month day-of-week) and an optional "
        'year, for example "cron(0 * 9-16 ? * MON-THU *)". `cron(...)` around them is optional.'
    )
    timezone: str = Field(
        default="UTC",
        description="An IANA time zone (Area/City, such as Europe/Berlin), or UTC with an "
        "optional offset (UTC+05:30). Default UTC.",
    )


class EnvironmentFile(_Model):
    """environments/<name>.yaml"""

    account: AccountId
    region: Region
    requires_approval: Annotated[bool, Field(strict=True)] | None = Field(
        default=None,
        description="Default: false for the first environment in promotion, true for the rest.",
    )
    network: Network
    cluster: (
        Annotated[str, _matches(r"[A-Za-z0-9_-]{1,255}", "an ECS cluster name", "shop-prod")] | None
    ) = None
    load_balancer: LoadBalancer | None = None
    alarms: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(default=[])
    bake_minutes: Annotated[int, Field(ge=1, le=1440, strict=True)] | None = Field(
        default=None,
        description="Minutes the stage watches `alarms` after a deployment before the next "
        "environment may be approved; an alarm in that time rolls the stage back.",
    )
    approval_timeout_minutes: Annotated[int, Field(ge=5, le=86400, strict=True)] | None = Field(
        default=None,
        description="Minutes the manual approval waits for a decision before CodePipeline fails "
        "it (5 to 86,400, that is 60 days; default CodePipeline's 7 days). Needs an approval.",
    )
    deploy_window: DeployWindow | None = Field(
        default=None,
        description="A release waits at the entry of this environment's stage until the window "
        "opens (CodePipeline's DeploymentWindow rule).",
    )
    services: dict[ServiceName, ServiceSettings] = Field(default={})
    steps: Steps = Field(default_factory=Steps)
    runners: dict[RunnerName, RunnerOverride] = Field(default={})


# The checked, merged view ---------------------------------------------------------------------


class Environment(_Model):
    name: str
    account: str
    region: str
    requires_approval: bool
    network: Network
    cluster: str | None
    load_balancer: LoadBalancer | None
    alarms: tuple[str, ...]
    bake_minutes: int | None
    services: dict[str, ServiceSettings]
    steps: Steps = Field(default_factory=Steps)
    runners: dict[str, RunnerOverride] = Field(default={})
    approval_timeout_minutes: int | None = None
    deploy_window: DeployWindow | None = None


class Project(_Model):
    app: str
    toolchain: Toolchain
    # The one `image`, or in a view of one of several `images` (`for_image`), that image; None
    # in a project of several images, which has no one image: read `pipeline_image`.
    image: Image | None
    services: dict[str, Service]
    notifications: Notifications
    environments: tuple[Environment, ...]
    runner: RunnerSettings | None = None
    runners: dict[str, BuiltinRunner | RunnerSpec] = Field(default={})
    # Several images by name (empty: the one `image`), and in a view of one of them, its name.
    images: dict[str, Image] = Field(default={})
    image_name: str | None = None

    @property
    def pipeline_image(self) -> Image:
        """The image this project's one pipeline releases. A project of several images has no
        such image (each has its pipeline): ask `for_image(name)` for the view of one."""
        if self.image is None:
            raise ValueError(
                f"{self.app} has several images ({', '.join(self.images)}): "
                "take the view of one with for_image(name)"
            )
        return self.image

    def image_names(self) -> list[str | None]:
        """The name of each pipeline's image: `[None]` for the one `image`."""
        return list(self.images) if self.images else [None]

    def for_image(self, name: str | None) -> "Project":
        """The project as one image's pipeline sees it: that image, and only its services (the
        services of a view are never rendered as stacks: each service stack is built from the
        whole project, so its listener priority is the same in every view)."""
        if name is None:
            return self
        services = {s: spec for s, spec in self.services.items() if self.image_name_of(s) == name}
        return self.model_copy(
            update={"image": self.images[name], "services": services, "image_name": name}
        )

    def image_name_of(self, service: str) -> str | None:
        """The name of the image the service runs: the one it names, the only one of `images`,
        or None for the one `image`."""
        if not self.images:
            return None
        return self.services[service].image or next(iter(self.images))

    def image_of(self, service: str) -> Image:
        """The image the service runs."""
        name = self.image_name_of(service)
        return self.pipeline_image if name is None else self.images[name]

    @property
    def accounts(self) -> list[str]:
        """Every environment account other than the toolchain's, sorted, once each."""
        return sorted({e.account for e in self.environments} - {self.toolchain.account})

    @property
    def environment_accounts(self) -> list[str]:
        return sorted({e.account for e in self.environments})

    @property
    def repository_uri(self) -> str:
        """The release repository as image references name it: <registry>/<repository>."""
        from pipelines import naming

        registry = naming.image_registry(self.toolchain.account, self.toolchain.region)
        return f"{registry}/{self.pipeline_image.repository}"

    @property
    def all_images(self) -> list[Image]:
        """Every image of the project: its one `image`, or each of `images`."""
        return list(self.images.values()) if self.images else [self.pipeline_image]

    @property
    def regions(self) -> list[str]:
        """Every region the pipeline acts in, the toolchain's first."""
        others = sorted({e.region for e in self.environments} - {self.toolchain.region})
        return [self.toolchain.region, *others]

    def routed_services(self) -> list[str]:
        """Services behind the load balancer, in rule priority order.

        Rules with a path come first, so the one host-only rule never shadows them.
        """
        served = [s for s, spec in self.services.items() if spec.port is not None]
        return sorted(served, key=lambda s: (self.services[s].path is None, s))

    def settings(self, env: Environment, service: str) -> ServiceSettings:
        return env.services.get(service) or ServiceSettings()

    def listener_rule_count(self, env: Environment) -> int:
        """Rules the environment puts on its listener: one per routed service, and as many test
        rules before them once one of its services takes test traffic by header."""
        routed = self.routed_services()
        tested = any(self.rollout(env, s).test_traffic_header for s in routed)
        return len(routed) * (2 if tested else 1)

    def listener_priority(self, env: Environment, service: str, test: bool = False) -> int:
        """A routed service's production (or test) rule priority. Test rules come first: a
        listener evaluates rules from the lowest priority, and a test request also matches the
        production rule's host and path."""
        assert env.load_balancer is not None
        routed = self.routed_services()
        index = routed.index(service)
        if test:
            return env.load_balancer.priority + index
        shift = len(routed) if self.listener_rule_count(env) > len(routed) else 0
        return env.load_balancer.priority + shift + index

    def rollout(self, env: Environment, service: str) -> ResolvedRollout:
        """The rollout settings in effect for `service` in `env`."""
        return resolve_rollout(self.services[service].rollout, self.settings(env, service).rollout)

    def permissions(self, env: Environment, service: str) -> list[Permission]:
        """The task role's statements: pipeline.yaml's, then the environment's own."""
        return [*self.services[service].permissions, *self.settings(env, service).permissions]

    def variables(self, env: Environment, service: str) -> dict[str, str]:
        """The service's environment variables, the environment's own taking precedence."""
        return {**self.services[service].environment, **self.settings(env, service).environment}
