"""Project -> its deploy runners: the allow-list, each environment's runners and its steps.

Three views of the same `runners:` declaration:
- the allow-list (`allow_list`): every runner as the invoker admits it, built-ins made for all
  environments at once; it is what runners.json holds;
- an environment's runners (`environment_runners`): the runners its steps use, with the IAM of
  built-ins narrowed to that environment's stacks and its own secrets merged in; the
  environment's runner stack gives each its role from this;
- the steps (`environment_steps`): each `runner.script args` of an environment's `steps`,
  admitted at synth against the allow-list, with the action and namespace it becomes.

Pure: no boto3.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

from pipelines import naming
from pipelines.aws_facts import partition_of
from pipelines.config.models import BuiltinRunner, Environment, Project, StepEntry
from pipelines.config.runner_spec import RunnerSpec
from pipelines.invoker.defaults import RELEASE_IMAGE

if TYPE_CHECKING:
    from pipelines.config.builtin_runners import BuiltinContext
    from pipelines.invoker.allowlist import Admitted

# The allow-list and the built-ins are imported where used: an app without runners, the common
# case, never loads them (synth's start-up time is mostly imports).

PHASES = ("before_approval", "before_deploy", "after_deploy")


class RunStep(NamedTuple):
    """One runner job in a release: where it runs, what it runs, where its outputs go."""

    environment: str
    phase: str  # one of PHASES
    runner: str
    script: str
    args: tuple[str, ...]
    on: str  # ecs | codebuild
    argv: tuple[str, ...]  # as admitted at synth (variables not yet resolved)
    release_image: bool  # the job runs the image being promoted
    action: str
    namespace: str
    on_rollback: str = "run"  # skip: a stage rollback does not run it again (models.StepEntry)
    image: str | None = None  # with `images`: the image whose pipeline runs it (None: `image`)


class HookStep(NamedTuple):
    """One job of a service's lifecycle hook in an environment (models.Rollout.hooks)."""

    environment: str
    service: str
    stage: str  # snake_case, as written (models.HookStage)
    position: int  # its place among the stage's steps
    runner: str
    script: str
    text: str


def builtin_context(project: Project, environments: tuple[Environment, ...]) -> BuiltinContext:
    from pipelines.config.builtin_runners import BuiltinContext

    toolchain = project.toolchain
    return BuiltinContext(
        app=project.app,
        account=toolchain.account,
        region=toolchain.region,
        runner_image=(project.runner.image if project.runner else None) or "",
        repositories=tuple(image.repository for image in project.all_images),
        partition=partition_of(toolchain.region),
        artifact_bucket=naming.artifact_bucket(project.app, toolchain.account, toolchain.region),
        environments=tuple(e.name for e in environments),
        targets=tuple(sorted({(e.account, e.region) for e in environments})),
    )


def _resolve(entry: BuiltinRunner | RunnerSpec, context: BuiltinContext) -> RunnerSpec:
    if isinstance(entry, BuiltinRunner):
        from pipelines.config.builtin_runners import builtin_runner

        return builtin_runner(entry.builtin, context, on=entry.on)
    return entry


# Synth asks for one project's runners and steps from the loader, the release plan, several
# builders and the summary: 37 times for the example, a tenth of its synth. Each is worked out
# once for the project asked about last; a project is frozen, so what was derived stays right.
@dataclass
class _Derived:
    """What was derived from one project."""

    project: Project | None = None
    allow_list: Mapping[str, RunnerSpec] | None = None
    # id(environment) -> (that environment, its steps)
    steps: dict[int, tuple[Environment, tuple[RunStep, ...]]] = field(default_factory=dict)


_last = _Derived()


def _derived(project: Project) -> _Derived:
    global _last
    if _last.project is not project:
        _last = _Derived(project)
    return _last


def allow_list(project: Project) -> Mapping[str, RunnerSpec]:
    """Every runner, as `pipelines run` and the invoker admit requests for it."""
    derived = _derived(project)
    if derived.allow_list is None:
        context = builtin_context(project, project.environments)
        runners = {name: _resolve(e, context) for name, e in sorted(project.runners.items())}
        derived.allow_list = MappingProxyType(runners)
    return derived.allow_list


def environment_runners(project: Project, env: Environment) -> dict[str, RunnerSpec]:
    """The runners env's steps and hooks use, with IAM for env alone and env's secrets merged
    in."""
    used = sorted(
        {step.runner for step in environment_steps(project, env)}
        | {hook.runner for hook in hook_steps(project, env)}
    )
    context = replace(builtin_context(project, (env,)), artifacts_by_link=True)
    runners = {}
    for name in used:
        spec = _resolve(project.runners[name], context)
        override = env.runners.get(name)
        if override and override.secrets:
            spec = spec.model_copy(update={"secrets": {**spec.secrets, **override.secrets}})
        runners[name] = spec
    return runners


def environment_steps(project: Project, env: Environment) -> list[RunStep]:
    """env's steps in the order they run, each admitted (the loader reports refusals)."""
    if not project.runners:
        return []
    steps = _derived(project).steps
    key = id(env)
    if key not in steps or steps[key][0] is not env:
        steps[key] = (env, tuple(_admitted_steps(project, env)))
    return list(steps[key][1])


def _admitted_steps(project: Project, env: Environment) -> list[RunStep]:
    from pipelines.invoker.allowlist import parse_step

    runners = allow_list(project)
    seen: Counter[tuple[str | None, str]] = Counter()
    steps = []
    for phase, entries in env.steps.entries():
        for entry in entries:
            image = step_image(project, entry)
            if project.image_name is not None and image != project.image_name:
                continue  # one image's view: another image's pipeline runs this step
            text = entry.run
            admitted = admit_step(runners, text)
            # Numbered within its image's steps, so that each pipeline names its actions and
            # namespaces alike in the whole project and in that image's view.
            key = (image, f"{admitted.runner}.{admitted.script}")
            seen[key] += 1
            n = seen[key]
            steps.append(
                RunStep(
                    environment=env.name,
                    phase=phase,
                    runner=admitted.runner,
                    script=admitted.script,
                    args=parse_step(text).args,
                    on=admitted.on,
                    argv=admitted.argv,
                    release_image=runners[admitted.runner].image == RELEASE_IMAGE,
                    action=naming.step_action(admitted.runner, admitted.script, n),
                    namespace=naming.step_namespace(env.name, admitted.runner, admitted.script, n),
                    on_rollback=entry.on_rollback,
                    image=image,
                )
            )
    return steps


def step_image(project: Project, entry: StepEntry) -> str | None:
    """The name of the image whose pipeline runs the step: the one it names, the only one of
    `images`, or None for the one `image` (the loader requires a name with several)."""
    if not project.images:
        return None
    return entry.image or next(iter(project.images))


def release_step_images(project: Project, env: Environment | None = None) -> list[str | None]:
    """The images (by name, in `images` order; `[None]` for the one `image`) whose pipelines run
    a step of a runner of the `release` image, in env or in any environment."""
    envs = project.environments if env is None else (env,)
    used = {s.image for e in envs for s in environment_steps(project, e) if s.release_image}
    return [name for name in project.image_names() if name in used]


def release_repository_uris(project: Project) -> list[str]:
    """Every release repository as image references name it, in `images` order: a runner of
    the `release` image may run a digest of any of them (`pipelines run --image`), and a step
    runs its own pipeline's."""
    return [project.for_image(name).repository_uri for name in project.image_names()]


def admit_step(runners: Mapping[str, RunnerSpec], text: str) -> Admitted:
    """The step as the allow-list admits it; variables wait for run time (Refused if not)."""
    from pipelines.invoker.allowlist import admit, parse_step

    return admit(runners, parse_step(text), allow_variables=True)


def hook_steps(project: Project, env: Environment) -> list[HookStep]:
    """env's lifecycle hook jobs, by service and stage (the loader reports refusals)."""
    if not project.runners:
        return []
    from pipelines.invoker.allowlist import parse_step

    found = []
    for service in sorted(project.services):
        for stage, texts in project.rollout(env, service).hooks.items():
            for index, text in enumerate(texts):
                request = parse_step(text)
                found.append(
                    HookStep(
                        env.name,
                        service,
                        stage,
                        index,
                        str(request.runner),
                        str(request.script),
                        text,
                    )
                )
    return found


def _target_hooks(project: Project, env: Environment) -> dict[str, dict[str, tuple[str, ...]]]:
    """env's hooks as runners.json holds them: service -> ECS's stage name -> step texts."""
    found: dict[str, dict[str, list[str]]] = {}
    for hook in hook_steps(project, env):
        found.setdefault(hook.service, {}).setdefault(hook.stage.upper(), []).append(hook.text)
    return {
        service: {stage: tuple(texts) for stage, texts in stages.items()}
        for service, stages in found.items()
    }


def hook_environments(project: Project) -> list[Environment]:
    """Environments with a lifecycle hook: each gets a hook function on its runner stack."""
    return [env for env in project.environments if hook_steps(project, env)]


def ecs_environments(project: Project) -> list[Environment]:
    """Environments with at least one ECS step or hook: each gets a runner stack in its
    account."""
    return [
        env
        for env in project.environments
        if any(s.on == "ecs" for s in environment_steps(project, env)) or hook_steps(project, env)
    ]


def runners_document(project: Project) -> str:
    """runners.json: the allow-list and where each environment's jobs run, for the invoker."""
    from pipelines.invoker.document import Network, Target, dump_document

    toolchain = project.toolchain
    partition = partition_of(toolchain.region)
    targets = {
        env.name: Target.named(
            project.app,
            env.name,
            account=env.account,
            region=env.region,
            subnets=tuple(env.network.subnets),
            assign_public_ip=env.network.public_ip,
            partition=partition,
            # Exactly the runners its runner stack has a task definition for.
            task_definitions={
                name: naming.env_runner_task_family(project.app, env.name, name)
                for name, spec in environment_runners(project, env).items()
                if spec.on == "ecs"
            },
            hooks=_target_hooks(project, env),
        )
        for env in ecs_environments(project)
    }
    network = None
    toolchain_families = {}
    if project.runner is not None and project.runner.network is not None:
        network = Network(
            subnets=tuple(project.runner.network.subnets),
            assign_public_ip=project.runner.network.public_ip,
            stack=naming.runner_stack(project.app),
        )
        # The toolchain's runner stack defines the ECS runners that run their own image.
        toolchain_families = {
            name: naming.runner_task_family(project.app, name)
            for name, spec in allow_list(project).items()
            if spec.on == "ecs" and spec.image != RELEASE_IMAGE
        }
    return dump_document(
        project.app,
        {name: spec.model_dump(mode="json") for name, spec in allow_list(project).items()},
        region=toolchain.region,
        network=network,
        environments=tuple(e.name for e in project.environments),
        targets=targets,
        release_repositories=tuple(release_repository_uris(project)),
        task_definitions=toolchain_families,
    )
