"""Names within AWS's length limits. Names join the app, environment, service and runner names
with hyphens, so long parts together can pass a limit none of them passes alone."""

from __future__ import annotations

from pipelines import naming
from pipelines.config import runners
from pipelines.config.models import EnvironmentFile, PipelineFile, Project
from pipelines.config.rules.documents import Documents
from pipelines.config.yaml_source import Document
from pipelines.errors import Problem


def resource_names_fit(
    pipeline: PipelineFile, name: str, env: EnvironmentFile, doc: Document
) -> list[Problem]:
    """Every name a service gets in this environment (stack, roles, load balancer target group,
    log group...) within the limit AWS sets for that kind of name: one problem per service."""
    problems: list[Problem] = []
    for service in pipeline.services:
        too_long = [
            (what, made, limit)
            for what, made, limit in naming.longest_names(pipeline.app, name, service)
            if len(made) > limit
        ]
        if too_long:  # one message per service: every name grows with the same three parts
            what, made, limit = too_long[0]
            problems.append(
                Problem(
                    doc.file,
                    None,
                    "",
                    f"{what} name {made!r} is {len(made)} characters, over AWS's {limit}; "
                    f"shorten the app, environment ({name!r}) or service ({service!r}) name",
                )
            )
    return problems


def runner_role_names_fit(project: Project, documents: Documents) -> list[Problem]:
    """Each runner's IAM role names, in the toolchain and in every environment it runs in,
    within IAM's 64 characters: one problem per runner."""
    problems: list[Problem] = []
    if not project.runners:
        return problems
    doc = documents.pipeline
    allowed = runners.allow_list(project)
    for name in allowed:
        made = list(naming.runner_role_names(project.app, None, name))
        made += [
            role
            for env in project.environments
            if any(s.runner == name for s in runners.environment_steps(project, env))
            or any(h.runner == name for h in runners.hook_steps(project, env))
            for role in naming.runner_role_names(project.app, env.name, name)
        ]
        longest = max(made, key=len)
        if len(longest) > naming.MAX_ROLE_NAME:
            problems.append(
                Problem(
                    doc.file,
                    doc.line_of(("runners", name)),
                    f"runners.{name}",
                    f"IAM role name {longest!r} is {len(longest)} characters, over AWS's "
                    f"{naming.MAX_ROLE_NAME}; shorten the runner's name (or the app's or "
                    "environment's)",
                )
            )
    return problems
