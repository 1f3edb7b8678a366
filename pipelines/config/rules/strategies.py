"""Progressive delivery: each service's deployment strategy, and each environment's approval
timeout and deployment window (see docs/rollouts.md)."""

from __future__ import annotations

import math
import re

from pipelines.config.models import Environment, Project, ResolvedRollout
from pipelines.config.rules.documents import Documents, KeyPath, problem_at
from pipelines.config.yaml_source import Document
from pipelines.errors import Problem

# CloudFormation refuses a canary or linear deployment whose configured duration exceeds 33
# hours, so that it ends within the handler's 36 hours (AWS::ECS::Service CanaryConfiguration
# and LinearConfiguration: https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/
# aws-properties-ecs-service-canaryconfiguration.html, .../aws-properties-ecs-service-
# linearconfiguration.html).
MAX_CLOUDFORMATION_DEPLOYMENT_MINUTES = 33 * 60


def strategies_work(project: Project, documents: Documents) -> list[Problem]:
    """A strategy other than `rolling` needs the service behind the environment's load balancer
    (ECS shifts traffic between two target groups of a listener rule), a test header needs such
    a strategy, and a canary or linear deployment fits CloudFormation's 33 hours. Each problem is
    reported at the key of the file that set it."""
    problems: list[Problem] = []
    for env in project.environments:
        for service in project.services:
            rollout = project.rollout(env, service)
            key, doc = _where(project, documents, env, service, "strategy")
            if rollout.shifts_traffic and not _balanced(project, env, service):
                reason = (
                    f"the environment {env.name} has no `load_balancer`"
                    if env.load_balancer is None
                    else f"the service {service} has no `port` in pipeline.yaml"
                )
                problems.append(
                    problem_at(
                        doc,
                        key,
                        f"strategy {rollout.strategy} shifts traffic between two target groups of "
                        f"the load balancer, but {reason}; use strategy rolling for {service} in "
                        f"{env.name}",
                    )
                )
                continue
            if rollout.test_traffic_header is not None and not rollout.shifts_traffic:
                key, doc = _where(project, documents, env, service, "test_traffic_header")
                problems.append(
                    problem_at(
                        doc,
                        key,
                        f"test traffic reaches a new revision only while ECS shifts traffic; "
                        f"{service} deploys with strategy rolling in {env.name}",
                    )
                )
            minutes = configured_minutes(rollout)
            if minutes > MAX_CLOUDFORMATION_DEPLOYMENT_MINUTES:
                problems.append(
                    problem_at(
                        doc,
                        key,
                        f"a {rollout.strategy} deployment of {service} in {env.name} is configured "
                        f"to take {minutes} minutes of bake time; CloudFormation refuses more than "
                        f"{MAX_CLOUDFORMATION_DEPLOYMENT_MINUTES} (33 hours): shorten bake_minutes "
                        "or the step bake time",
                    )
                )
    return problems


def configured_minutes(rollout: ResolvedRollout) -> int:
    """What CloudFormation counts of a deployment's duration: the bake time plus the canary's
    bake, or plus each linear step's bake but the last (100 / step - 1 steps when the step
    divides 100, else floor(100 / step))."""
    if rollout.strategy == "canary":
        return rollout.bake_minutes + rollout.canary_bake_minutes
    if rollout.strategy == "linear":
        return rollout.bake_minutes + rollout.linear_step_bake_minutes * linear_bakes(
            rollout.linear_step_percent
        )
    return 0


def linear_bakes(step_percent: float) -> int:
    """Waits between the shifts of a linear deployment (none after the shift that reaches 100 %).
    In tenths, so that 100 / 12.5 is exact."""
    step, whole = round(step_percent * 10), 1000
    return whole // step - 1 if whole % step == 0 else math.floor(whole / step)


def approvals_and_windows_work(project: Project, documents: Documents) -> list[Problem]:
    """An approval timeout needs an approval, and a deployment window is one CodePipeline can
    read: a cron expression of its fields and a time zone it accepts."""
    problems: list[Problem] = []
    for env in project.environments:
        doc = documents.environments[env.name]
        if env.approval_timeout_minutes is not None and not env.requires_approval:
            problems.append(
                problem_at(
                    doc,
                    ("approval_timeout_minutes",),
                    f"{env.name} has no manual approval (requires_approval is false); remove "
                    "approval_timeout_minutes or set requires_approval: true",
                )
            )
        if env.deploy_window is None:
            continue
        cron_problem = cron_problem_of(env.deploy_window.cron)
        if cron_problem:
            problems.append(problem_at(doc, ("deploy_window", "cron"), cron_problem))
        zone_problem = timezone_problem_of(env.deploy_window.timezone)
        if zone_problem:
            problems.append(problem_at(doc, ("deploy_window", "timezone"), zone_problem))
    return problems


# CodePipeline's DeploymentWindow rule: six fields and an optional year, each with its own
# values and special characters
# (https://docs.aws.amazon.com/codepipeline/latest/userguide/rule-reference-DeploymentWindow.html).
_MONTHS = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC"
_DAYS = "SUN|MON|TUE|WED|THU|FRI|SAT"
_CRON_FIELDS: tuple[tuple[str, str], ...] = (
    ("seconds", r"[0-9*,/-]+"),
    ("minutes", r"[0-9*,/-]+"),
    ("hours", r"[0-9*,/-]+"),
    ("day-of-month", r"[0-9*,/?LW-]+"),
    ("month", rf"(?:[0-9*,/-]|{_MONTHS})+"),
    ("day-of-week", rf"(?:[0-9*,/?L#-]|{_DAYS})+"),
    ("year", r"[0-9*,/-]+"),
)
_CRON_PATTERNS: list[re.Pattern[str]] = []  # compiled on first use: only windows need them


def cron_problem_of(cron: str) -> str | None:
    """Why CodePipeline could not read `cron` as a deployment window, or None."""
    fields = cron.upper().split()
    if len(fields) not in (6, 7):
        return (
            f"{cron!r} has {len(fields)} fields; a deployment window has six (seconds minutes "
            'hours day-of-month month day-of-week) and an optional year, e.g. "cron(0 * 9-16 ? '
            '* MON-THU *)"'
        )
    if not _CRON_PATTERNS:
        _CRON_PATTERNS.extend(re.compile(pattern) for _, pattern in _CRON_FIELDS)
    for (name, _), pattern, field in zip(_CRON_FIELDS, _CRON_PATTERNS, fields, strict=False):
        if not pattern.fullmatch(field):
            return f"{field!r} is not a {name} field of a deployment window's cron expression"
    if "?" not in (fields[3], fields[5]):
        return (
            "write ? in day-of-month or day-of-week (one of the two: a cron expression cannot "
            f"restrict both), not {fields[3]!r} and {fields[5]!r}"
        )
    return None


_UTC_OFFSET = "UTC"


def timezone_problem_of(zone: str) -> str | None:
    """Why `zone` is not a time zone the window should use, or None. Region/City zones are
    checked against the system's time zone database; abbreviations, which CodePipeline also
    takes, are refused because several mean different zones (CST: Central, China or Cuba)."""
    if zone == _UTC_OFFSET or _is_utc_offset(zone):
        return None
    if "/" not in zone:
        return (
            f"{zone!r} is not an Area/City time zone (such as Europe/Berlin) or UTC with an "
            "offset (UTC+05:30); abbreviations are ambiguous (CST is Central, China or Cuba)"
        )
    import zoneinfo  # only a deployment window needs the time zone database

    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"{zone!r} is not a time zone of the IANA database (for example Europe/Berlin)"
    return None


def _is_utc_offset(zone: str) -> bool:
    """UTC+HH:MM or UTC-HH:MM, hours to 14."""
    if len(zone) != 9 or not zone.startswith("UTC") or zone[3] not in "+-" or zone[6] != ":":
        return False
    hours, minutes = zone[4:6], zone[7:9]
    return (
        hours.isdigit() and minutes.isdigit() and int(hours) <= 14 and int(minutes) in (0, 30, 45)
    )


def _balanced(project: Project, env: Environment, service: str) -> bool:
    return env.load_balancer is not None and project.services[service].port is not None


def _where(
    project: Project, documents: Documents, env: Environment, service: str, key: str
) -> tuple[KeyPath, Document]:
    """The key path and document of the file that set `key` of the service's rollout: the
    environment's when it sets it, else pipeline.yaml's."""
    path: KeyPath = ("services", service, "rollout", key)
    if key in project.settings(env, service).rollout.written():
        return path, documents.environments[env.name]
    return path, documents.pipeline
