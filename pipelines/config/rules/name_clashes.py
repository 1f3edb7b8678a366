"""Distinct names: CloudFormation stack names are unique in an account and region, IAM role
names in an account."""

from __future__ import annotations

from pipelines import naming
from pipelines.config import runners
from pipelines.config.models import Project
from pipelines.config.rules.documents import Documents, KeyPath, key_of
from pipelines.errors import Problem


def names_distinct(project: Project, documents: Documents) -> list[Problem]:
    """No two things would get one name: stacks, or IAM roles in one account.

    Names join the app, environment, service and runner names with hyphens, so a service called
    `deploy` would be the environment's deploy stack, and a service `runner-x` would share roles
    with the runner `x`.
    """
    doc = documents.pipeline
    app = project.app
    owners: dict[tuple[str, str], str] = {}  # (account or "stack", name) -> what it is
    clashes: list[Problem] = []
    reported: set[KeyPath | None] = set()

    def claim(scope: str, name: str, what: str, key: KeyPath | None) -> None:
        other = owners.setdefault((scope, name), what)
        if other != what and key not in reported:  # one problem per key is enough to act on
            reported.add(key)
            line = doc.line_of(key) if key else None
            kind = "stack" if scope == "stack" else "IAM role"
            clashes.append(
                Problem(
                    doc.file,
                    line,
                    key_of(key) if key else "",
                    f"{what} and {other} would both be named {kind} {name!r}; rename one",
                )
            )

    claim("stack", naming.source_stack(app), "the source stack", None)
    claim("stack", naming.pipeline_stack(app), "the pipeline stack", None)
    claim("stack", naming.runner_stack(app), "the runner stack", None)
    for region in project.regions[1:]:
        claim("stack", naming.artifacts_stack(app, region), f"{region}'s artifacts stack", None)
    for env in project.environments:
        claim("stack", naming.deploy_stack(app, env.name), f"{env.name}'s deploy stack", None)
        claim(env.account, naming.deploy_role(app, env.name), f"{env.name}'s deploy role", None)
        claim(
            env.account, naming.cloudformation_role(app, env.name), f"{env.name}'s cfn role", None
        )
        steps = runners.environment_steps(project, env)
        if any(s.on == "ecs" for s in steps):
            claim(
                "stack", naming.env_runner_stack(app, env.name), f"{env.name}'s runner stack", None
            )
            claim(
                env.account,
                naming.env_runner_execution_role(app, env.name),
                f"{env.name}'s runner execution role",
                None,
            )
            for runner in sorted({s.runner for s in steps if s.on == "ecs"}):
                claim(
                    env.account,
                    naming.env_runner_task_role(app, env.name, runner),
                    f"runner {runner!r} in {env.name}",
                    ("runners", runner),
                )
        for service in sorted(project.services):
            what = f"service {service!r} in {env.name}"
            key = ("services", service)
            claim("stack", naming.service_stack(app, env.name, service), what, key)
            claim(env.account, naming.execution_role(app, env.name, service), what, key)
            claim(env.account, naming.task_role(app, env.name, service), what, key)
    return clashes
