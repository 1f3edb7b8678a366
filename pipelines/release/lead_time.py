"""How long a release waits on what the templates configure, from push to the last environment.

Only configured waits count (and ECS's fixed settle time for tasks without a load balancer):
image pulls, task start-up and the time people take to approve are not known here.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from pipelines.config.models import AWS_ROLLOUT_DEFAULTS, Environment, Project, ResolvedRollout

# ECS counts a task without a load balancer or container health check as healthy this long
# after it starts running (fixed by ECS, not configurable).
UNBALANCED_SETTLE_SECONDS = 40
# CodePipeline fails a manual approval nobody acts on after seven days (fixed).
APPROVAL_TIMEOUT_SECONDS = 7 * 24 * 3600
# The release marker Lambda's timeout: a call is three or four ECR requests and one to
# CodePipeline, so it takes about a second; Lambda stops it after this long.
MARKER_TIMEOUT_SECONDS = 30


class ServiceWaits(NamedTuple):
    """What one service's deployment waits on, as configured (durations in seconds)."""

    service: str
    batches: int  # rounds of replacement minimum/maximum percent allow
    to_healthy: int  # until a new task counts as healthy
    draining: int  # the load balancer drains an old task
    stopping: int  # SIGTERM to SIGKILL at most
    # Blue/green, canary, linear: ECS's waits while it shifts traffic (canary or linear step
    # bakes) and keeps the old revision (bake_minutes), in seconds; 0 for a rolling update.
    shifting: int = 0
    strategy: str = "rolling"

    @property
    def total(self) -> int:
        return self.batches * (self.to_healthy + self.draining + self.stopping) + self.shifting


class EnvironmentWaits(NamedTuple):
    """What one environment's release waits on, as configured (durations in seconds)."""

    environment: str
    services: tuple[ServiceWaits, ...]
    bake: int
    approval_timeout: int | None
    window: str | None = None  # the deployment window a release waits for, as written

    @property
    def slowest(self) -> ServiceWaits:
        # Services of an environment deploy in parallel: the slowest sets the pace.
        return max(self.services, key=lambda s: s.total)

    @property
    def rollout(self) -> int:
        return self.slowest.total

    @property
    def total(self) -> int:
        return self.rollout + self.bake


def estimate(project: Project, rollout: ResolvedRollout | None = None) -> list[EnvironmentWaits]:
    """Configured waits per environment; `rollout` replaces every service's settings if given."""
    return [_environment(project, env, rollout) for env in project.environments]


def _environment(
    project: Project, env: Environment, override: ResolvedRollout | None
) -> EnvironmentWaits:
    services = []
    for name, spec in sorted(project.services.items()):
        own = project.rollout(env, name)
        # AWS's timings replace the rolling and health-check settings, not the strategy.
        settings = own if override is None else _timings(override, own)
        balanced = env.load_balancer is not None and spec.port is not None
        # The loader refused maximum_percent at or below minimum_healthy_percent.
        step = settings.maximum_percent - settings.minimum_healthy_percent
        services.append(
            ServiceWaits(
                service=name,
                batches=math.ceil(100 / step),
                to_healthy=(
                    settings.health_check_interval * settings.healthy_threshold
                    if balanced
                    else UNBALANCED_SETTLE_SECONDS
                ),
                draining=settings.deregistration_delay if balanced else 0,
                stopping=settings.stop_timeout,
            )
        )
        if settings.shifts_traffic:
            # One round: the new revision starts beside the old, traffic moves, the old drains.
            services[-1] = services[-1]._replace(
                batches=1, shifting=shifting_seconds(settings), strategy=settings.strategy
            )
    return EnvironmentWaits(
        environment=env.name,
        services=tuple(services),
        bake=(env.bake_minutes or 0) * 60,
        approval_timeout=(
            (env.approval_timeout_minutes or APPROVAL_TIMEOUT_SECONDS // 60) * 60
            if env.requires_approval
            else None
        ),
        window=(
            f"{env.deploy_window.cron} ({env.deploy_window.timezone})"
            if env.deploy_window is not None
            else None
        ),
    )


def shifting_seconds(rollout: ResolvedRollout) -> int:
    """ECS's configured waits of a blue/green, canary or linear deployment: the canary's bake,
    or each linear step's but the last, then bake_minutes with the old revision kept."""
    from pipelines.config.rules.strategies import linear_bakes

    steps = 0
    if rollout.strategy == "canary":
        steps = rollout.canary_bake_minutes
    elif rollout.strategy == "linear":
        steps = rollout.linear_step_bake_minutes * linear_bakes(rollout.linear_step_percent)
    return (steps + rollout.bake_minutes) * 60


def _timings(aws: ResolvedRollout, own: ResolvedRollout) -> ResolvedRollout:
    """`own`'s strategy with `aws`'s rolling and health-check timings."""
    from dataclasses import replace

    return replace(
        own,
        **{
            key: getattr(aws, key)
            for key in (
                "deregistration_delay",
                "health_check_interval",
                "health_check_timeout",
                "healthy_threshold",
                "unhealthy_threshold",
                "health_check_grace_period",
                "stop_timeout",
                "minimum_healthy_percent",
                "maximum_percent",
            )
        },
    )


def release_total(waits: list[EnvironmentWaits]) -> int:
    return sum(w.total for w in waits)


def with_aws_defaults(project: Project) -> list[EnvironmentWaits]:
    """The same release if every service kept the ECS and load balancer defaults."""
    return estimate(project, AWS_ROLLOUT_DEFAULTS)
