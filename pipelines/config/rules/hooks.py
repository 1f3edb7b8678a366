"""Lifecycle hooks (a service's `rollout.hooks`): deploy-runner jobs ECS runs at a stage of
each deployment, through the environment's hook function and the invoker (docs/rollouts.md)."""

from __future__ import annotations

from pipelines import naming, patterns
from pipelines.config import runners
from pipelines.config.models import TEST_TRAFFIC_STAGES, Environment, Project
from pipelines.config.rules.documents import Documents, KeyPath, problem_at
from pipelines.config.rules.steps import runner_definitions_work
from pipelines.config.yaml_source import Document
from pipelines.errors import Problem
from pipelines.invoker.defaults import RELEASE_IMAGE


def hooks_work(project: Project, documents: Documents) -> list[Problem]:
    """Each service's hooks can run in each environment. ECS describes the hook stages as those
    of a deployment shifting traffic between two revisions (blue/green, canary, linear), and
    its pages do not say that a rolling update runs them; a test-traffic stage needs
    the test listener rule; and each step is one the invoker starts as an ECS task with
    nothing from the pipeline: admitted by the allow-list, on an ECS runner that runs its own
    image, with fixed arguments (a hook has no pipeline execution whose #{...} variables could
    be resolved, nor a release digest). Each problem is reported at the key of the file that
    set the hooks."""
    problems: list[Problem] = []
    for env in project.environments:
        for service in project.services:
            rollout = project.rollout(env, service)
            if not rollout.hooks:
                continue
            path, doc = _where(project, documents, env, service)
            if not rollout.shifts_traffic:
                problems.append(
                    problem_at(
                        doc,
                        path,
                        f"{service} deploys with strategy rolling in {env.name}, and hooks run "
                        "at the stages of a deployment that shifts traffic between two revisions "
                        "(blue_green, canary, linear); set such a strategy or remove hooks",
                    )
                )
                continue
            if not project.runners or runner_definitions_work(project, documents):
                problems.append(
                    problem_at(
                        doc,
                        path,
                        "hooks run deploy-runner jobs, and pipeline.yaml defines no `runners` "
                        "that can run (see the problems reported there)",
                    )
                )
                continue
            names = (
                naming.hook_function_role(project.app, env.name),
                naming.hook_function(project.app, env.name),
            )
            longest = max(names, key=len)
            if len(longest) > naming.MAX_ROLE_NAME:
                # IAM role names and Lambda function names both stop at 64 characters.
                problems.append(
                    problem_at(
                        doc,
                        path,
                        f"the hook function's role in {env.name} would be named {longest!r}, "
                        f"{len(longest)} characters, over AWS's {naming.MAX_ROLE_NAME}; shorten "
                        "the app's or the environment's name",
                    )
                )
                continue
            for stage, texts in rollout.hooks.items():
                if stage in TEST_TRAFFIC_STAGES and rollout.test_traffic_header is None:
                    problems.append(
                        problem_at(
                            doc,
                            (*path, stage),
                            f"{stage} comes after test traffic reaches the new revision, and "
                            f"{service} has no test_traffic_header in {env.name}, so there is "
                            "no test traffic; set test_traffic_header or use "
                            "post_production_traffic_shift",
                        )
                    )
                    continue
                for i, text in enumerate(texts):
                    why = step_problem(project, text)
                    if why:
                        problems.append(problem_at(doc, (*path, stage, i), why))
    # pipeline.yaml's hooks are every environment's: report each of their problems once.
    return list(dict.fromkeys(problems))


def step_problem(project: Project, text: str) -> str | None:
    """Why a hook cannot run this step, or None."""
    from pipelines.invoker.allowlist import Refused

    if patterns.VARIABLE.search(text):
        return (
            "a hook runs outside any pipeline execution, so #{...} variables have nothing to "
            "take their value from: give the step fixed arguments"
        )
    allowed = runners.allow_list(project)
    try:
        admitted = runners.admit_step(allowed, text)
    except Refused as refused:
        return f"refused by the allow-list: {refused.reason}"
    if admitted.on != "ecs":
        return (
            f"{admitted.runner} runs on CodeBuild; hooks run as ECS tasks the invoker starts "
            "in the environment's account: use a runner with `on: ecs`"
        )
    if allowed[admitted.runner].image == RELEASE_IMAGE:
        return (
            f"{admitted.runner} runs the release image, whose digest only a pipeline execution "
            "knows; a hook's runner needs an image of its own"
        )
    return None


def _where(
    project: Project, documents: Documents, env: Environment, service: str
) -> tuple[KeyPath, Document]:
    """The hooks' key path and document: the environment's when it sets them, else
    pipeline.yaml's."""
    path: KeyPath = ("services", service, "rollout", "hooks")
    if "hooks" in project.settings(env, service).rollout.written():
        return path, documents.environments[env.name]
    return path, documents.pipeline
