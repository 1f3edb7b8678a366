"""Project -> ReleasePlan: the ordered stages and steps of a release.

The plan knows what happens and in which order; the pipeline builder only says how CodePipeline
expresses it. Tests of ordering and approvals run against this, without CloudFormation.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pipelines import naming
from pipelines.config.models import Environment, Project


class StepKind(StrEnum):
    SOURCE_IMAGE = "source-image"
    SOURCE_TEMPLATES = "source-templates"
    DEPLOY = "deploy"  # create or update the service stack directly
    PLAN = "plan"  # create a change set with the new digest
    APPROVE = "approve"  # a person approves the change sets
    APPLY = "apply"  # execute exactly the change set that was approved


@dataclass(frozen=True)
class Step:
    kind: StepKind
    name: str
    run_order: int
    service: str | None = None
    stack: str | None = None


@dataclass(frozen=True)
class Stage:
    name: str
    environment: Environment | None
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class ReleasePlan:
    app: str
    stages: tuple[Stage, ...]


def plan_release(project: Project) -> ReleasePlan:
    source = Stage(
        naming.SOURCE_STAGE,
        None,
        (
            Step(StepKind.SOURCE_IMAGE, naming.IMAGE_ARTIFACT, 1),
            Step(StepKind.SOURCE_TEMPLATES, naming.TEMPLATES_ARTIFACT, 1),
        ),
    )
    stages = [source, *(_environment_stage(project, env) for env in project.environments)]
    return ReleasePlan(project.app, tuple(stages))


def _environment_stage(project: Project, env: Environment) -> Stage:
    def stack(service: str) -> str:
        return naming.service_stack(project.app, env.name, service)

    # Services of one environment always share a run order, so they deploy in parallel.
    services = sorted(project.services)
    if not env.requires_approval:
        steps = [Step(StepKind.DEPLOY, naming.deploy_action(s), 1, s, stack(s)) for s in services]
    else:
        steps = [
            *(Step(StepKind.PLAN, naming.plan_action(s), 1, s, stack(s)) for s in services),
            Step(StepKind.APPROVE, naming.APPROVAL_ACTION, 2),
            *(Step(StepKind.APPLY, naming.apply_action(s), 3, s, stack(s)) for s in services),
        ]
    return Stage(naming.stage_name(env.name), env, tuple(steps))
