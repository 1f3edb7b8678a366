"""Listener rules: each environment's routed services get rules on its load balancer's
listener, at priorities from the environment's `priority` up."""

from __future__ import annotations

from pipelines.aws_facts import partition_of
from pipelines.config.models import (
    EnvironmentFile,
    PipelineFile,
    Project,
    ServiceSettings,
    resolve_rollout,
)
from pipelines.config.rules.documents import Documents, problem_at
from pipelines.config.yaml_source import Document
from pipelines.errors import Problem

MAX_PRIORITY = 50000  # Elastic Load Balancing: the highest listener rule priority


def listener_fits_environment(
    pipeline: PipelineFile, name: str, env: EnvironmentFile, doc: Document
) -> list[Problem]:
    """The listener is in the environment's account and region (the deploy stack adds rules to
    it there), the services on one host are told apart by path, and the rules' priorities stay
    within Elastic Load Balancing's maximum of 50000."""
    problems: list[Problem] = []
    if not env.load_balancer:
        return problems
    partition = partition_of(env.region)
    parts = env.load_balancer.listener_arn.split(":")
    if parts[1] != partition or parts[3] != env.region or parts[4] != env.account:
        problems.append(
            problem_at(
                doc,
                ("load_balancer", "listener_arn"),
                f"the listener must be in this environment's account {env.account} and region "
                f"{env.region}",
            )
        )
    served = [s for s, spec in pipeline.services.items() if spec.port is not None]
    unrouted = [s for s in served if pipeline.services[s].path is None]
    if len(unrouted) > 1:
        problems.append(
            problem_at(
                doc,
                ("load_balancer", "host"),
                f"services {', '.join(unrouted)} would share host {env.load_balancer.host}; give "
                "all but one of them a `path` in pipeline.yaml",
            )
        )
    tested = any(
        resolve_rollout(
            pipeline.services[s].rollout,
            (env.services.get(s) or ServiceSettings()).rollout,
        ).test_traffic_header
        for s in served
    )
    rules = len(served) * (2 if tested else 1)
    last = env.load_balancer.priority + rules - 1
    if last > MAX_PRIORITY:
        problems.append(
            problem_at(
                doc,
                ("load_balancer", "priority"),
                f"{len(served)} services need {rules} rules at priorities up to {last}; the "
                "maximum is 50000",
            )
        )
    return problems


def listener_priorities_distinct(project: Project, documents: Documents) -> list[Problem]:
    """Environments sharing a listener take priorities that do not overlap: a listener refuses
    a second rule with a priority it has."""
    taken: dict[tuple[str, int], str] = {}
    problems = []
    for env in project.environments:
        routed = project.listener_rule_count(env)
        if env.load_balancer is None or not routed:
            continue
        first = env.load_balancer.priority
        listener = env.load_balancer.listener_arn
        other = next(
            (taken[(listener, p)] for p in range(first, first + routed) if (listener, p) in taken),
            None,
        )
        if other is not None:
            problems.append(
                problem_at(
                    documents.environments[env.name],
                    ("load_balancer", "priority"),
                    f"{env.name}'s {_rules(first, routed)} on the listener {other} also "
                    "uses; choose priorities that do not overlap",
                )
            )
            continue
        taken |= {(listener, p): env.name for p in range(first, first + routed)}
    return problems


def _rules(first: int, count: int) -> str:
    if count == 1:
        return f"rule takes priority {first}"
    return f"{count} rules take priorities {first}-{first + count - 1}"
