"""Runners and steps that cannot work. Each step is admitted by the allow-list at synth, and
again by the invoker at run time for steps on ECS."""

from __future__ import annotations

from collections import Counter

from pipelines import naming, patterns
from pipelines.config import runners
from pipelines.config.backtracking import backtracking_problem
from pipelines.config.models import BuiltinRunner, Environment, Project
from pipelines.config.rules.documents import Documents, KeyPath, problem_at
from pipelines.config.runner_spec import RunnerSpec
from pipelines.config.yaml_source import Document
from pipelines.errors import Problem, unknown_name
from pipelines.invoker.defaults import DEFAULT_POSITIONAL_PATTERN

# Namespaces a step may read before any step ran: the image source's and the execution's.
BUILT_IN_NAMESPACES = frozenset({naming.SOURCE_NAMESPACE, "codepipeline"})


def runners_and_steps_work(project: Project, documents: Documents) -> list[Problem]:
    """The runners pipeline.yaml defines, then (only if they can work) every environment's
    runner settings and steps."""
    return runner_definitions_work(project, documents) or steps_work(project, documents)


def runner_definitions_work(project: Project, documents: Documents) -> list[Problem]:
    """Each runner pipeline.yaml defines can work: a user-written runner's patterns cannot
    backtrack without bound (the invoker matches arguments with them inside its Lambda's time
    limit), only image-builder may change where it runs, and a built-in runner has an image to
    run in."""
    problems: list[Problem] = []
    doc = documents.pipeline
    for name, entry in project.runners.items():
        if not isinstance(entry, BuiltinRunner):
            for path, pattern in _user_patterns(name, entry):
                if why := backtracking_problem(pattern):
                    problems.append(problem_at(doc, path, f"pattern {pattern!r}: {why}"))
            continue
        if entry.on is not None and entry.builtin != "image-builder":
            problems.append(
                problem_at(doc, ("runners", name, "on"), "only image-builder can change `on`")
            )
        if project.runner is None or project.runner.image is None:
            problems.append(
                problem_at(
                    doc,
                    ("runners", name),
                    f"the built-in {entry.builtin} needs `runner.image` in pipeline.yaml: an "
                    "image with Python and this package (and the tool the runner calls)",
                )
            )
    return problems


def _user_patterns(name: str, spec: RunnerSpec) -> list[tuple[KeyPath, str]]:
    """(key path, pattern) of every pattern a user-written runner gives its scripts."""
    found: list[tuple[KeyPath, str]] = []
    for script_name, script in spec.scripts.items():
        where = ("runners", name, "scripts", script_name)
        found += [
            ((*where, "allowed_options", option), pattern)
            for option, pattern in script.allowed_options.items()
            if pattern is not None
        ]
        if script.positional_pattern != DEFAULT_POSITIONAL_PATTERN:
            found.append(((*where, "positional_pattern"), script.positional_pattern))
    return found


def steps_work(project: Project, documents: Documents) -> list[Problem]:
    """Every environment's runner settings and steps can work, given runners that can.

    Runner settings in an environment file are for a runner on ECS (CodeBuild runs in the
    toolchain account) that one of its steps runs, with secrets in its account and region.
    Steps before approval need an approval. Each step is admitted by the allow-list, reads only
    the variables of earlier steps' namespaces (CodePipeline fails the execution otherwise),
    writes a namespace of its own (CodePipeline refuses two actions with one), and on CodeBuild,
    where nothing checks arguments at run time, takes no #{...} variables.
    """
    problems: list[Problem] = []
    if not project.runners:
        return problems
    from pipelines.invoker.allowlist import Refused

    def problem(doc: Document, path: KeyPath, message: str) -> None:
        problems.append(problem_at(doc, path, message))

    allowed = runners.allow_list(project)
    # Per image's pipeline (None: the one `image`): grows with each step, in the order steps
    # run; a step reads and writes namespaces of its own pipeline only.
    pipeline_namespaces: dict[str | None, set[str]] = {
        name: set(BUILT_IN_NAMESPACES) for name in project.image_names()
    }
    for env in project.environments:
        doc = documents.environments[env.name]
        for name, override in env.runners.items():
            if name not in allowed:
                problem(doc, ("runners", name), unknown_name("runner", name, list(allowed)))
                continue
            if allowed[name].on != "ecs":
                problem(
                    doc,
                    ("runners", name),
                    f"{name} runs on CodeBuild, in the toolchain account, for every environment: "
                    "give its secrets in pipeline.yaml",
                )
                continue
            if name not in _step_runners(project, env):
                problem(
                    doc,
                    ("runners", name),
                    f"no step or hook of {env.name} runs {name}, so these settings would apply to "
                    "nothing; add a step or remove them",
                )
                continue
            for var, arn in override.secrets.items():
                parts = arn.split(":")
                if parts[3] != env.region or parts[4] != env.account:
                    problem(
                        doc,
                        ("runners", name, "secrets", var),
                        f"secret {arn} must be in this environment's account {env.account} and "
                        f"region {env.region}",
                    )
        if env.steps.before_approval and not env.requires_approval:
            problem(
                doc,
                ("steps", "before_approval"),
                f"{env.name} has no approval to run these before; set requires_approval: true "
                "or move them to before_deploy",
            )
        seen: Counter[tuple[str | None, str]] = Counter()
        for phase, entries in env.steps.entries():
            for i, entry in enumerate(entries):
                text = entry.run
                path = ("steps", phase, i)
                image = runners.step_image(project, entry)
                namespaces = pipeline_namespaces[image]
                try:
                    admitted = runners.admit_step(allowed, text)
                except Refused as refused:
                    problem(doc, path, f"refused by the allow-list: {refused.reason}")
                    continue
                for namespace, variable in patterns.VARIABLE.findall(text):
                    if namespace not in namespaces:
                        earlier = ", ".join(sorted(namespaces - BUILT_IN_NAMESPACES)) or "none"
                        problem(
                            doc,
                            path,
                            f"#{{{namespace}.{variable}}}: no earlier step has the namespace "
                            f"{namespace!r} (earlier steps' namespaces: {earlier}; also "
                            f"{', '.join(sorted(BUILT_IN_NAMESPACES))})",
                        )
                key = (image, f"{admitted.runner}.{admitted.script}")
                seen[key] += 1
                namespace = naming.step_namespace(
                    env.name, admitted.runner, admitted.script, seen[key]
                )
                if namespace in namespaces:
                    # Names join with hyphens, which names may hold too: `a` + `b-c` is `a-b` + `c`.
                    problem(
                        doc,
                        path,
                        f"its output namespace {namespace!r} is an earlier step's too; "
                        "rename the runner or script so each step's namespace is its own",
                    )
                namespaces.add(namespace)
                if _pushes_from_another_account(project, env, admitted.runner, admitted.on):
                    problem(
                        doc,
                        path,
                        f"{admitted.runner} is the built-in image-builder on ECS, which runs in "
                        f"{env.name}'s account {env.account}, and the app's repositories in the "
                        f"toolchain account {project.toolchain.account} let other accounts pull "
                        f"only: build on CodeBuild, in the toolchain account "
                        f"(`{admitted.runner}: {{builtin: image-builder, on: codebuild}}`)",
                    )
                if admitted.on == "codebuild" and entry.on_rollback == "skip":
                    problem(
                        doc,
                        (*path, "on_rollback"),
                        f"{admitted.runner} runs on CodeBuild, and only the invoker (ECS runners) "
                        "checks whether an execution is a stage rollback: leave on_rollback out "
                        "here, or run the step on ECS (docs/steps.md, Rollbacks)",
                    )
                if admitted.on == "codebuild" and admitted.deferred:
                    problem(
                        doc,
                        path,
                        f"{admitted.runner} runs on CodeBuild, where nothing checks arguments "
                        "again at run time: give it fixed arguments, not #{...} variables",
                    )
    return problems


def _pushes_from_another_account(project: Project, env: Environment, runner: str, on: str) -> bool:
    """Whether a step would push to the app's repositories from another account: an ECS job
    runs in its environment's account, and a repository admits another account only as its
    policy says (conformance rule ecr-cross-account-access)."""
    entry = project.runners.get(runner)
    return (
        isinstance(entry, BuiltinRunner)
        and entry.builtin == "image-builder"
        and on == "ecs"
        and env.account != project.toolchain.account
    )


def _step_runners(project: Project, env: Environment) -> set[str]:
    """The runners env's steps and its services' hooks name (as written: refusals are
    reported on their own)."""
    hooks = [
        text
        for service in project.services
        for texts in project.rollout(env, service).hooks.values()
        for text in texts
    ]
    return {
        text.split(None, 1)[0].partition(".")[0]
        for text in [*(t for _, texts in env.steps.phases() for t in texts), *hooks]
        if text.strip()
    }
