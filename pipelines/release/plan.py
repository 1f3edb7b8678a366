"""Project -> ReleasePlan: the ordered stages and steps of a release.

The plan knows what happens and in which order; the pipeline builder only says how CodePipeline
expresses it. Tests of ordering and approvals run against this, without CloudFormation.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple, TypeVar

from pipelines import naming
from pipelines.config.models import Environment, Project
from pipelines.config.runners import RunStep, environment_steps
from pipelines.limits import ACTIONS_PER_STAGE

T = TypeVar("T")


class StepKind(StrEnum):
    SOURCE_IMAGE = "source-image"
    SOURCE_TEMPLATES = "source-templates"
    DEPLOY = "deploy"  # create or update the service stack directly
    PLAN = "plan"  # create a change set with the new digest
    APPROVE = "approve"  # a person approves the change sets
    APPLY = "apply"  # execute exactly the change set that was approved
    RUN = "run"  # a deploy-runner job (plan, migration, smoke test, ...)
    MARK = "mark"  # tag the released digest as what the environment runs (the release marker)


class Step(NamedTuple):
    """One action of a stage; steps with the same run_order run at once."""

    kind: StepKind
    name: str
    run_order: int
    service: str | None = None
    stack: str | None = None
    run: RunStep | None = None


class Stage(NamedTuple):
    """One pipeline stage: the source, or a part of one environment's release."""

    name: str
    environment: Environment | None
    steps: tuple[Step, ...]
    # The environment's last stage: where its deployment is complete, so bake time and
    # rollback on failure attach here.
    final: bool = True


class ReleasePlan(NamedTuple):
    """Every stage of a release, in order."""

    app: str
    stages: tuple[Stage, ...]


def plans_by_image(project: Project, plan: ReleasePlan) -> dict[str | None, ReleasePlan]:
    """Each pipeline's plan by its image's name: `plan` for the one `image`; with several, each
    image's own, deploying only the services that run it."""
    if not project.images:
        return {None: plan}
    return {name: plan_release(project.for_image(name)) for name in project.images}


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

    Within it, by run order: runner steps `before_approval` beside the change-set plans, the
    approval, `before_deploy` steps, the service deployments (all services in parallel), the
    release marker, then `after_deploy` steps. An environment with more actions than fit spreads
    them over several stages instead: for a direct deployment, `<env>-prepare` (steps before),
    `<env>`, `<env>-2`, ... and `<env>-verify` (steps after); with an approval, the plans first
    (`<env>-plan`, `<env>-plan-2`, ...), then the approval with the steps around it in `<env>`,
    then the applies (`<env>-apply`, ...) and `<env>-verify`. Stage `<env>` always holds the
    environment's approval, if it has one. The release marker always follows the last
    deployment, in the stage of the last deployments.
    """

    def stack(service: str) -> str:
        return naming.service_stack(project.app, env.name, service)

    runs = environment_steps(project, env)

    def phase(name: str) -> list[list[Step]]:
        # A list is an order: each step starts once the one before it succeeded.
        return [[Step(StepKind.RUN, r.action, 0, run=r)] for r in runs if r.phase == name]

    before_approval, before, after = (
        phase(p) for p in ("before_approval", "before_deploy", "after_deploy")
    )
    services = sorted(project.services)
    marker = Step(StepKind.MARK, naming.MARKER_ACTION, 0)
    if not env.requires_approval:
        deploys = [Step(StepKind.DEPLOY, naming.deploy_action(s), 0, s, stack(s)) for s in services]
        if len(before) + len(deploys) + 1 + len(after) <= ACTIONS_PER_STAGE:
            order = [*before, deploys, [marker], *after]
            return [Stage(naming.stage_name(env.name), env, _ordered(order))]
        stages = [Stage(naming.prepare_stage(env.name), env, _ordered(before))] if before else []
        stages += [
            Stage(naming.stage_name(env.name, part=i), env, _ordered(g))
            for i, g in enumerate(_then_marker(deploys, marker), start=1)
        ]
        if after:
            stages.append(Stage(naming.verify_stage(env.name), env, _ordered(after)))
        return _final_last(stages)
    plans = [Step(StepKind.PLAN, naming.plan_action(s), 0, s, stack(s)) for s in services]
    approval = Step(StepKind.APPROVE, naming.APPROVAL_ACTION, 0)
    applies = [Step(StepKind.APPLY, naming.apply_action(s), 0, s, stack(s)) for s in services]
    total = len(before_approval) + len(plans) + 1 + len(before) + len(applies) + 1 + len(after)
    if total <= ACTIONS_PER_STAGE:
        # The change-set plans run beside the first step before the approval.
        first, *rest = before_approval or [[]]
        order = [[*first, *plans], *rest, [approval], *before, applies, [marker], *after]
        return [Stage(naming.stage_name(env.name), env, _ordered(order))]
    plan_stages = [
        Stage(naming.plan_stage(env.name, part=i), env, _ordered([g]), final=False)
        for i, g in enumerate(_groups(plans, ACTIONS_PER_STAGE), start=1)
    ]
    approval_stage = Stage(
        naming.stage_name(env.name), env, _ordered([*before_approval, [approval], *before])
    )
    apply_stages = [
        Stage(naming.apply_stage(env.name, part=i), env, _ordered(g))
        for i, g in enumerate(_then_marker(applies, marker), start=1)
    ]
    verify = [Stage(naming.verify_stage(env.name), env, _ordered(after))] if after else []
    return _final_last([*plan_stages, approval_stage, *apply_stages, *verify])


def _ordered(groups: list[list[Step]]) -> tuple[Step, ...]:
    """The groups' steps with run orders 1, 2, ... for the non-empty groups, in order."""
    steps: list[Step] = []
    order = 0
    for group in groups:
        if group:
            order += 1
            steps += [step._replace(run_order=order) for step in group]
    return tuple(steps)


def _then_marker(deployments: list[Step], marker: Step) -> list[list[list[Step]]]:
    """Per stage, the run-order groups of deployments that fill stages of at most
    ACTIONS_PER_STAGE actions, with the release marker after the last deployments, in their
    stage (in a stage of its own only when the last deployments fill theirs)."""
    return [
        [[s for s in chunk if s is not marker], [s for s in chunk if s is marker]]
        for chunk in _groups([*deployments, marker], ACTIONS_PER_STAGE)
    ]


def _groups(items: list[T], size: int) -> list[list[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _final_last(stages: list[Stage]) -> list[Stage]:
    return [stage._replace(final=i == len(stages) - 1) for i, stage in enumerate(stages)]
