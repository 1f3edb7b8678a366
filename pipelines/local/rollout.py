"""ECS's own deployment strategies, as the rehearsal and the sandbox model them.

moto has no blue/green, canary or linear deployments: it replaces a service's task definition at
once. What this module models, after CloudFormation changed a service whose
`DeploymentConfiguration.Strategy` is not ROLLING (actions/cloudformation.py calls `roll_out`):

- the strategy's phases (`phases`): canary `CanaryPercent` baked `CanaryBakeTimeInMinutes`, then
  all traffic; linear `StepPercent` at a time, each step but the last baked
  `StepBakeTimeInMinutes` (the steps CloudFormation counts); blue/green all at once; then
  `BakeTimeInMinutes` with all traffic on the new revision, the old one kept;
- the waits, scaled down (`Timing`: a minute is a tenth of a second by default);
- ECS's alarm rollback: an alarm of `DeploymentConfiguration.Alarms` in ALARM during any phase
  fails the deployment, and with `Rollback` the service returns to the task definition it ran
  before ([DeploymentAlarms](https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeploymentAlarms.html):
  "the service is rolled back to the last deployment that completed successfully");
- what `ListServiceDeployments` and `DescribeServiceDeployments` answer about it
  (`ServiceDeployment`, `Deployments`), in the shapes of botocore's model.

Lifecycle hooks run at their stages around these phases (actions/deployment.py). Not modelled:
traffic itself (no load balancer weights change, no request reaches a revision), the circuit
breaker, test traffic. The lifecycle stage shown for a canary's or a
linear step's bake is PRODUCTION_TRAFFIC_SHIFT, and BAKE_TIME for the final bake: ECS's
documentation names the stages, not which one a canary's bake is reported in.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipelines.local.execution import RehearsalError, now

# ECS's defaults (CanaryConfiguration, LinearConfiguration, BakeTimeInMinutes); synth writes the
# values in effect, so these apply only to a template that leaves them out.
DEFAULT_BAKE_MINUTES = 15
DEFAULT_CANARY_PERCENT = 5.0
DEFAULT_CANARY_BAKE_MINUTES = 10
DEFAULT_LINEAR_STEP_PERCENT = 10.0
DEFAULT_LINEAR_STEP_BAKE_MINUTES = 6
SHIFTING = ("BLUE_GREEN", "CANARY", "LINEAR")
# A deployment that has not ended, as ListServiceDeployments' status filter names them.
ACTIVE_STATUSES = ("PENDING", "IN_PROGRESS", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS")
POLL_SECONDS = 0.02  # how often an alarm is read during a scaled wait


@dataclass(frozen=True)
class Timing:
    """How the rehearsal and the sandbox treat time.

    Bakes and window waits are scaled: `bake_seconds_per_minute` seconds per configured minute
    (0.1: a 15-minute canary bake takes 1.5 s). A wait for a deployment window is the time
    until the window opens, scaled the same way, but at most `window_wait_cap_seconds`. An
    approval's TimeoutInMinutes is not scaled (a person decides it): `approval_seconds_per_minute`
    is 60, AWS's own semantics; tests set less."""

    bake_seconds_per_minute: float = 0.1
    window_wait_cap_seconds: float = 3.0
    approval_seconds_per_minute: float = 60.0

    def describe(self) -> str:
        return f"a minute takes {self.bake_seconds_per_minute:g} s"


@dataclass(frozen=True)
class Phase:
    """One phase of a deployment: production traffic on the new revision, held that long."""

    lifecycle_stage: str  # ECS's ServiceDeploymentLifecycleStage it is shown as
    percent: float  # production traffic on the new revision
    minutes: int  # its bake, as configured
    label: str

    def __str__(self) -> str:
        return f"{self.label}: {self.percent:g}% of production traffic, bake {self.minutes} min"


def strategy_of(configuration: Mapping[str, Any]) -> str:
    """The strategy of a DeploymentConfiguration (CloudFormation's property names)."""
    return str(configuration.get("Strategy", "ROLLING")).upper()


def phases(configuration: Mapping[str, Any]) -> list[Phase]:
    """The phases of a deployment under this DeploymentConfiguration, in order; none for
    ROLLING (a rolling update shifts no traffic between revisions)."""
    strategy = strategy_of(configuration)
    bake = _integer(configuration, "BakeTimeInMinutes", DEFAULT_BAKE_MINUTES)
    final = Phase("BAKE_TIME", 100.0, bake, "all traffic, old revision kept")
    if strategy == "ROLLING":
        return []
    if strategy == "BLUE_GREEN":
        return [final]
    if strategy == "CANARY":
        canary = configuration.get("CanaryConfiguration") or {}
        percent = _number(canary, "CanaryPercent", DEFAULT_CANARY_PERCENT)
        minutes = _integer(canary, "CanaryBakeTimeInMinutes", DEFAULT_CANARY_BAKE_MINUTES)
        return [Phase("PRODUCTION_TRAFFIC_SHIFT", percent, minutes, "canary"), final]
    if strategy == "LINEAR":
        linear = configuration.get("LinearConfiguration") or {}
        step = _number(linear, "StepPercent", DEFAULT_LINEAR_STEP_PERCENT)
        minutes = _integer(linear, "StepBakeTimeInMinutes", DEFAULT_LINEAR_STEP_BAKE_MINUTES)
        return [
            Phase("PRODUCTION_TRAFFIC_SHIFT", percent, minutes, f"linear step {n}")
            for n, percent in enumerate(linear_steps(step), start=1)
        ] + [final]
    raise RehearsalError(f"DeploymentConfiguration.Strategy {strategy} cannot be interpreted")


def linear_steps(step_percent: float) -> list[float]:
    """The traffic percentages a linear deployment bakes at before reaching 100: as many as
    CloudFormation counts (100 / StepPercent - 1 when the step divides 100, else the floor of
    100 / StepPercent), each StepPercent more than the last."""
    count = 100 / step_percent
    steps = int(count) - 1 if count == int(count) else int(count)
    return [round(step_percent * n, 1) for n in range(1, steps + 1)]


def _integer(values: Mapping[str, Any], key: str, default: int) -> int:
    value = values.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RehearsalError(f"DeploymentConfiguration {key}: {value!r} is not a number")
    return int(value)


def _number(values: Mapping[str, Any], key: str, default: float) -> float:
    value = values.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RehearsalError(f"DeploymentConfiguration {key}: {value!r} is not a number")
    return float(value)


def alarm_names(configuration: Mapping[str, Any]) -> tuple[list[str], bool]:
    """The alarms ECS watches during the deployment, and whether it rolls back on one: none if
    DeploymentConfiguration.Alarms is absent or not enabled."""
    alarms = configuration.get("Alarms") or {}
    if not alarms or not _true(alarms.get("Enable")):
        return [], False
    names = alarms.get("AlarmNames", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise RehearsalError(
            f"DeploymentConfiguration.Alarms.AlarmNames {names!r}: only literal names are read"
        )
    return list(names), _true(alarms.get("Rollback"))


def _true(value: object) -> bool:
    return value is True or str(value).lower() == "true"


# Running the phases ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Breach:
    """An alarm in ALARM during a phase: ECS fails the deployment there."""

    phase: Phase
    alarms: tuple[str, ...]


def watch_phases(
    steps: Iterable[Phase],
    firing: Callable[[], list[str]],
    timing: Timing,
    entered: Callable[[Phase, float], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Breach | None:
    """Hold each phase for its scaled bake, reading the alarms (`firing`: the names of those
    in ALARM) when it begins and every POLL_SECONDS until it ends; the first alarm in ALARM
    ends the deployment there. `entered(phase, seconds)` is told of each phase as it begins."""
    for phase in steps:
        seconds = phase.minutes * timing.bake_seconds_per_minute
        entered(phase, seconds)
        deadline = clock() + seconds
        while True:
            alarms = firing()
            if alarms:
                return Breach(phase, tuple(alarms))
            left = deadline - clock()
            if left <= 0:
                break
            sleep(min(POLL_SECONDS, left))
    return None


# What ECS's API answers about deployments ----------------------------------------------------


@dataclass
class ServiceDeployment:
    """One deployment of a service, as the sandbox's ECS remembers it."""

    arn: str
    service_arn: str
    cluster_arn: str
    source_revision: str
    target_revision: str
    source_task_definition: str  # what the service ran before, and returns to on a rollback
    target_task_definition: str
    strategy: str
    configuration: Mapping[str, Any]  # the service's DeploymentConfiguration (CloudFormation's)
    alarms: list[str]
    status: str = "IN_PROGRESS"
    lifecycle_stage: str = "RECONCILE_SERVICE"
    percent: float = 0.0  # production traffic on the target revision
    created: datetime = field(default_factory=now)
    updated: datetime = field(default_factory=now)
    finished: datetime | None = None
    reason: str = ""
    rollback: dict[str, Any] | None = None
    triggered: tuple[str, ...] = ()

    def brief(self) -> dict[str, Any]:
        """ListServiceDeployments' ServiceDeploymentBrief."""
        answer: dict[str, Any] = {
            "serviceDeploymentArn": self.arn,
            "serviceArn": self.service_arn,
            "clusterArn": self.cluster_arn,
            "startedAt": self.created,
            "createdAt": self.created,
            "targetServiceRevisionArn": self.target_revision,
            "status": self.status,
        }
        if self.finished is not None:
            answer["finishedAt"] = self.finished
        if self.reason:
            answer["statusReason"] = self.reason
        return answer

    def described(self) -> dict[str, Any]:
        """DescribeServiceDeployments' ServiceDeployment."""
        target = self.percent
        answer: dict[str, Any] = {
            "serviceDeploymentArn": self.arn,
            "serviceArn": self.service_arn,
            "clusterArn": self.cluster_arn,
            "createdAt": self.created,
            "startedAt": self.created,
            "updatedAt": self.updated,
            "sourceServiceRevisions": [
                {"arn": self.source_revision, "requestedProductionTrafficWeight": 100.0 - target}
            ],
            "targetServiceRevision": {
                "arn": self.target_revision,
                "requestedProductionTrafficWeight": target,
            },
            "status": self.status,
            "lifecycleStage": self.lifecycle_stage,
            "deploymentConfiguration": _api_configuration(self.configuration),
        }
        if self.finished is not None:
            answer["finishedAt"] = self.finished
        if self.reason:
            answer["statusReason"] = self.reason
        if self.rollback is not None:
            answer["rollback"] = dict(self.rollback)
        if self.alarms:
            answer["alarms"] = {
                "status": "TRIGGERED" if self.triggered else _monitoring(self.status),
                "alarmNames": list(self.alarms),
                "triggeredAlarmNames": list(self.triggered),
            }
        return answer


def _monitoring(status: str) -> str:
    return "MONITORING" if status in ACTIVE_STATUSES else "MONITORING_COMPLETE"


def _api_configuration(configuration: Mapping[str, Any]) -> dict[str, Any]:
    """The DeploymentConfiguration in the API's names (the template has CloudFormation's)."""
    answer: dict[str, Any] = {"strategy": strategy_of(configuration)}
    if "BakeTimeInMinutes" in configuration:
        answer["bakeTimeInMinutes"] = _integer(configuration, "BakeTimeInMinutes", 0)
    canary = configuration.get("CanaryConfiguration")
    if canary:
        answer["canaryConfiguration"] = {
            "canaryPercent": _number(canary, "CanaryPercent", DEFAULT_CANARY_PERCENT),
            "canaryBakeTimeInMinutes": _integer(
                canary, "CanaryBakeTimeInMinutes", DEFAULT_CANARY_BAKE_MINUTES
            ),
        }
    linear = configuration.get("LinearConfiguration")
    if linear:
        answer["linearConfiguration"] = {
            "stepPercent": _number(linear, "StepPercent", DEFAULT_LINEAR_STEP_PERCENT),
            "stepBakeTimeInMinutes": _integer(
                linear, "StepBakeTimeInMinutes", DEFAULT_LINEAR_STEP_BAKE_MINUTES
            ),
        }
    for key, api in (
        ("MaximumPercent", "maximumPercent"),
        ("MinimumHealthyPercent", "minimumHealthyPercent"),
    ):
        if key in configuration:
            answer[api] = _integer(configuration, key, 0)
    names, rollback = alarm_names(configuration)
    if names:
        answer["alarms"] = {"alarmNames": names, "rollback": rollback, "enable": True}
    return answer


class Deployments:
    """The deployments the rehearsal's strategies ran, for ECS's two read operations."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._all: list[ServiceDeployment] = []  # oldest first
        self._noted = False

    def note_traffic_once(self) -> bool:
        """True the first time only: the output says once that traffic is not shifted."""
        with self._lock:
            first, self._noted = not self._noted, True
        return first

    def start(
        self,
        service_arn: str,
        cluster_arn: str,
        source_task_definition: str,
        target_task_definition: str,
        configuration: Mapping[str, Any],
    ) -> ServiceDeployment:
        """A deployment of the service from one task definition to another, IN_PROGRESS.
        Revisions are named after the service, numbered per deployment: the sandbox keeps no
        service revisions of its own (DescribeServiceRevisions is not answered)."""
        region, account = service_arn.split(":")[3], service_arn.split(":")[4]
        cluster, service = cluster_arn.rpartition("/")[2], service_arn.rpartition("/")[2]
        prefix = f"arn:aws:ecs:{region}:{account}"
        names, _ = alarm_names(configuration)
        with self._lock:
            number = 1 + sum(1 for d in self._all if d.service_arn == service_arn)
            deployment = ServiceDeployment(
                arn=f"{prefix}:service-deployment/{cluster}/{service}/{uuid.uuid4().hex[:22]}",
                service_arn=service_arn,
                cluster_arn=cluster_arn,
                source_revision=f"{prefix}:service-revision/{cluster}/{service}/{number}a",
                target_revision=f"{prefix}:service-revision/{cluster}/{service}/{number}b",
                source_task_definition=source_task_definition,
                target_task_definition=target_task_definition,
                strategy=strategy_of(configuration),
                configuration=dict(configuration),
                alarms=names,
            )
            self._all.append(deployment)
        return deployment

    def update(self, deployment: ServiceDeployment, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(deployment, key, value)
            deployment.updated = now()

    def listed(
        self, cluster: str | None, service: str, statuses: Iterable[str] = ()
    ) -> list[dict[str, Any]]:
        """ListServiceDeployments: the service's deployments, newest first."""
        wanted = set(statuses)
        with self._lock:
            found = [
                d.brief()
                for d in reversed(self._all)
                if _names(d.service_arn, service)
                and (cluster is None or _names(d.cluster_arn, cluster))
                and (not wanted or d.status in wanted)
            ]
        return found

    def described(self, arns: Iterable[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """DescribeServiceDeployments: the deployments found, and a failure for each ARN not."""
        with self._lock:
            by_arn = {d.arn: d for d in self._all}
            found, failures = [], []
            for arn in arns:
                if arn in by_arn:
                    found.append(by_arn[arn].described())
                else:
                    failures.append({"arn": arn, "reason": "MISSING"})
        return found, failures


def _names(arn: str, given: str) -> bool:
    """Whether `given` (a name or an ARN) names the resource of `arn`."""
    return given == arn or given == arn.rpartition("/")[2]
