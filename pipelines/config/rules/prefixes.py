"""Service names inside the environment's own prefix: the CloudFormation role reaches an
environment's resources by the name prefix `<app>-<env>-`."""

from __future__ import annotations

from pipelines import naming
from pipelines.config.models import Project
from pipelines.config.rules.documents import Documents, problem_at
from pipelines.errors import Problem


def service_names_outside_denied_prefixes(project: Project, documents: Documents) -> list[Problem]:
    """No service's resources carry a name the environment's CloudFormation role is denied: it
    reaches the environment's resources by the prefix `<app>-<env>-`, minus the runner's
    (`<app>-<env>-runner…`) and those of another environment of the same account whose name
    extends this one's (`dev` and `dev-eu`)."""
    doc = documents.pipeline
    problems = []
    for service in sorted(project.services):
        key = ("services", service)
        if service == "runner" or service.startswith("runner-"):
            problems.append(
                problem_at(
                    doc,
                    key,
                    "service names 'runner' and 'runner-…' are reserved for the deploy "
                    "runner's resources; rename the service",
                )
            )
            continue
        clash = next(
            (
                (env, other)
                for env in project.environments
                for other in project.environments
                if other.account == env.account
                and (rest := other.name.removeprefix(f"{env.name}-")) != other.name
                and (service == rest or service.startswith(f"{rest}-"))
            ),
            None,
        )
        if clash:
            env, other = clash
            problems.append(
                problem_at(
                    doc,
                    key,
                    f"in {env.name}, this service's resources would be named "
                    f"{naming.service_name(project.app, env.name, service)}, like "
                    f"{other.name}'s, which shares account {env.account}; rename the "
                    "service or one of the environments",
                )
            )
    return problems
