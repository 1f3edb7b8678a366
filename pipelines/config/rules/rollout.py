"""The effective rollout of each service in each environment, which may come from two files:
pipeline.yaml's defaults and the environment's overrides."""

from __future__ import annotations

from pipelines.config.models import Project, ResolvedRollout
from pipelines.config.rules.documents import Documents, problem_at
from pipelines.errors import Problem

MAX_RULES_PER_CONDITION = 5  # CodePipeline: rules in one stage condition


def rollout_settings_work(project: Project, documents: Documents) -> list[Problem]:
    """A bake watches between one and five alarms (CodePipeline: one condition rule per alarm,
    at most five rules in a condition), and each service's rollout settings can work together
    (ECS and the load balancer's health checks); a conflict is reported in the file it comes
    from."""
    problems: list[Problem] = []
    for env in project.environments:
        doc = documents.environments[env.name]
        if env.bake_minutes is not None and not env.alarms:
            problems.append(
                problem_at(
                    doc,
                    ("bake_minutes",),
                    "bake time watches the environment's `alarms`; name at least one alarm",
                )
            )
        if env.bake_minutes is not None and len(env.alarms) > MAX_RULES_PER_CONDITION:
            problems.append(
                problem_at(
                    doc,
                    ("alarms",),
                    f"bake time watches at most {MAX_RULES_PER_CONDITION} alarms (one "
                    "CodePipeline condition rule each); combine them in a composite alarm",
                )
            )
        for service in project.services:
            rollout = project.rollout(env, service)
            overridden = bool(project.settings(env, service).rollout.written())
            file_doc = doc if overridden else documents.pipeline
            for message in rollout_conflicts(rollout):
                problems.append(
                    problem_at(
                        file_doc, ("services", service, "rollout"), f"{message} (in {env.name})"
                    )
                )
    return problems


def rollout_conflicts(rollout: ResolvedRollout) -> list[str]:
    """A health check that times out no sooner than the next starts (the target group refuses
    it), and a deployment that may not start a task before stopping one (ECS never can)."""
    conflicts = []
    if rollout.health_check_timeout >= rollout.health_check_interval:
        conflicts.append(
            f"health_check_timeout ({rollout.health_check_timeout} s) must be shorter than "
            f"health_check_interval ({rollout.health_check_interval} s)"
        )
    if rollout.maximum_percent <= rollout.minimum_healthy_percent:
        conflicts.append(
            f"maximum_percent ({rollout.maximum_percent}) must be above minimum_healthy_percent "
            f"({rollout.minimum_healthy_percent}), or a deployment can never start a new task"
        )
    return conflicts
