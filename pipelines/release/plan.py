"""Project -> ReleasePlan: the ordered stages and steps of a release.

The plan knows what happens and in which order; the pipeline builder only says how CodePipeline
expresses it. Tests of ordering and approvals run against this, without CloudFormation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TypeVar

from pipelines import naming
from pipelines.config.models import Environment, Project
from pipelines.limits import ACTIONS_PER_STAGE

T = TypeVar("T")


class StepKind(StrEnum):
    SOURCE_IMAGE = "source-image"
    SOURCE_TEMPLATES = "source-templates"
    DEPLOY = "deploy"  # create or update the service stack directly
    PLAN = "plan"  # create a change set with the new digest
    APPROVE = "approve"  # a person approves the change sets
    APPLY = "apply"  # execute exactly the change set that was approved


@dataclass(frozen=True)
class Step:
    """One action of a stage; steps with the same run_order run at once."""

    kind: StepKind
    name: str
    run_order: int
    service: str | None = None
    stack: str | None = None


@dataclass(frozen=True)
class Stage:
    """One pipeline stage: the source, or a part of one environment's release."""

    name: str
    environment: Environment | None
    steps: tuple[Step, ...]
    # The environment's last stage: where its deployment is complete, so bake time and
    # rollback on failure attach here.
    final: bool = True


@dataclass(frozen=True)
class ReleasePlan:
    """Every stage of a release, in order."""

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
    stages = [source]
    for env in project.environments:
        stages += _environment_stages(project, env)
    return ReleasePlan(project.app, tuple(stages))


def _environment_stages(project: Project, env: Environment) -> list[Stage]:
    """One stage per environment while it fits CodePipeline's 50 actions a stage.

    Services of one environment always share a run order, so they deploy in parallel. An
    environment with more services than fit spreads them over several stages instead: for a
    direct deployment, `<env>`, `<env>-2`, ...; with an approval, the plans first
    (`<env>-plan`, `<env>-plan-2`, ...), then the approval alone in `<env>`, then the applies
    (`<env>-apply`, ...). Stage `<env>` always holds the environment's approval, if it has one.
    """

    def stack(service: str) -> str:
        return naming.service_stack(project.app, env.name, service)

    services = sorted(project.services)
    if not env.requires_approval:
        groups = _groups(services, ACTIONS_PER_STAGE)
        return _final_last(
            [
                Stage(
                    naming.stage_name(env.name, part=i),
                    env,
                    tuple(
                        Step(StepKind.DEPLOY, naming.deploy_action(s), 1, s, stack(s)) for s in g
                    ),
                )
                for i, g in enumerate(groups, start=1)
            ]
        )
    plans = [Step(StepKind.PLAN, naming.plan_action(s), 1, s, stack(s)) for s in services]
    approval = Step(StepKind.APPROVE, naming.APPROVAL_ACTION, 2)
    applies = [Step(StepKind.APPLY, naming.apply_action(s), 3, s, stack(s)) for s in services]
    if len(plans) + 1 + len(applies) <= ACTIONS_PER_STAGE:
        return [Stage(naming.stage_name(env.name), env, (*plans, approval, *applies))]
    plan_stages = [
        Stage(naming.plan_stage(env.name, part=i), env, tuple(g), final=False)
        for i, g in enumerate(_groups(plans, ACTIONS_PER_STAGE), start=1)
    ]
    approval_stage = Stage(naming.stage_name(env.name), env, (approval,), final=False)
    apply_stages = [
        Stage(naming.apply_stage(env.name, part=i), env, tuple(g), final=False)
        for i, g in enumerate(_groups(applies, ACTIONS_PER_STAGE), start=1)
    ]
    return _final_last([*plan_stages, approval_stage, *apply_stages])


def _groups(items: list[T], size: int) -> list[list[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _final_last(stages: list[Stage]) -> list[Stage]:
    return [replace(stage, final=i == len(stages) - 1) for i, stage in enumerate(stages)]
