"""An environment's service settings: for services pipeline.yaml defines, with local secrets."""

from __future__ import annotations

from pipelines.aws_facts import partition_of
from pipelines.config.models import EnvironmentFile, PipelineFile
from pipelines.config.rules.documents import problem_at
from pipelines.config.yaml_source import Document
from pipelines.errors import Problem, unknown_name


def services_known_with_local_secrets(
    pipeline: PipelineFile, name: str, env: EnvironmentFile, doc: Document
) -> list[Problem]:
    """Each service the environment configures is one pipeline.yaml defines, and each of its
    secrets lives in the environment's account and region: ECS reads a task's secrets with the
    execution role of the environment's account, from its own region's Secrets Manager."""
    problems: list[Problem] = []
    partition = partition_of(env.region)
    for service in env.services:
        if service not in pipeline.services:
            problems.append(
                problem_at(
                    doc,
                    ("services", service),
                    unknown_name("service", service, list(pipeline.services)),
                )
            )
            continue
        for var, arn in env.services[service].secrets.items():
            parts = arn.split(":")
            if parts[1] != partition or parts[3] != env.region or parts[4] != env.account:
                problems.append(
                    problem_at(
                        doc,
                        ("services", service, "secrets", var),
                        f"secret {arn} must be in this environment's account {env.account} and "
                        f"region {env.region}",
                    )
                )
    return problems
