"""Read environments/ into a checked Project. Every problem names its file, line and key."""

from __future__ import annotations

import re
import types
import typing
from collections import Counter
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from pipelines import naming, patterns
from pipelines.aws_facts import partition_of
from pipelines.config import runners
from pipelines.config.backtracking import backtracking_problem
from pipelines.config.models import (
    BuiltinRunner,
    Environment,
    EnvironmentFile,
    PipelineFile,
    Project,
    ResolvedRollout,
)
from pipelines.config.runner_spec import RunnerSpec
from pipelines.config.yaml_source import Document, read_document
from pipelines.errors import ConfigError, Problem, unknown_name
from pipelines.invoker.document import DEFAULT_POSITIONAL_PATTERN

PIPELINE_FILE = "pipeline.yaml"
# Namespaces a step may read before any step ran: the image source's and the execution's.
BUILT_IN_NAMESPACES = frozenset({naming.SOURCE_NAMESPACE, "codepipeline"})
MAX_RULES_PER_CONDITION = 5  # CodePipeline: rules in one stage condition

M = TypeVar("M", bound=BaseModel)


def load_project(directory: Path) -> Project:
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError([Problem(directory, None, "", "no such directory")])
    pipeline_doc = read_document(directory / PIPELINE_FILE)
    pipeline = _validate(PipelineFile, pipeline_doc)

    env_docs = _environment_documents(directory, pipeline, pipeline_doc)
    # Check every environment file before reporting, so one run shows every file's problems.
    env_files: dict[str, EnvironmentFile] = {}
    problems: list[Problem] = []
    for name, doc in env_docs.items():
        try:
            env_files[name] = _validate(EnvironmentFile, doc)
        except ConfigError as error:
            problems += error.problems
    if problems:
        raise ConfigError(problems)

    environments = []
    for index, name in enumerate(pipeline.promotion):
        env_file, doc = env_files[name], env_docs[name]
        problems += _environment_problems(pipeline, name, env_file, doc)
        approval = env_file.requires_approval
        environments.append(
            Environment(
                name=name,
                account=env_file.account,
                region=env_file.region,
                requires_approval=index > 0 if approval is None else approval,
                network=env_file.network,
                cluster=env_file.cluster,
                load_balancer=env_file.load_balancer,
                alarms=tuple(env_file.alarms),
                bake_minutes=env_file.bake_minutes,
                services=env_file.services,
                steps=env_file.steps,
                runners=env_file.runners,
            )
        )
    problems += _pipeline_problems(pipeline, pipeline_doc)
    if problems:
        raise ConfigError(problems)
    project = Project(
        app=pipeline.app,
        toolchain=pipeline.toolchain,
        image=pipeline.image,
        services=pipeline.services,
        notifications=pipeline.notifications,
        environments=tuple(environments),
        runner=pipeline.runner,
        runners=pipeline.runners,
    )
    problems = _rollout_problems(project, pipeline_doc, env_docs)
    problems += _runner_problems(project, pipeline_doc, env_docs)
    if not problems:
        problems += _runner_name_lengths(project, pipeline_doc)
        problems += _name_clashes(project, pipeline_doc)
        problems += _prefix_clashes(project, pipeline_doc)
        problems += _priority_clashes(project, env_docs)
    if problems:
        raise ConfigError(problems)
    return project


def _environment_documents(
    directory: Path, pipeline: PipelineFile, pipeline_doc: Document
) -> dict[str, Document]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for i, name in enumerate(pipeline.promotion):
        line = pipeline_doc.line_of(("promotion", i))
        if name in seen:
            problems.append(
                Problem(pipeline_doc.file, line, f"promotion[{i}]", f"{name!r} is listed twice")
            )
        elif not (directory / f"{name}.yaml").exists() and not _misnamed(directory, name):
            problems.append(
                Problem(
                    pipeline_doc.file,
                    line,
                    f"promotion[{i}]",
                    f"environment {name!r} has no file {directory / (name + '.yaml')}",
                )
            )
        seen.add(name)
    for path in sorted(directory.iterdir()):
        if path.suffix == ".yml":
            problems.append(Problem(path, None, "", "rename to .yaml: only .yaml files are read"))
        elif path.suffix == ".yaml" and path.name != PIPELINE_FILE and path.stem not in seen:
            problems.append(
                Problem(
                    path,
                    None,
                    "",
                    f"environment {path.stem!r} is not in promotion in {pipeline_doc.file}; "
                    "add it there or remove the file",
                )
            )
    if problems:
        raise ConfigError(problems)
    return {name: read_document(directory / f"{name}.yaml") for name in pipeline.promotion}


def _misnamed(directory: Path, name: str) -> bool:
    """A <name>.yml file exists: it gets its own "rename" problem, not a "no file" one."""
    return (directory / f"{name}.yml").exists()


def _environment_problems(
    pipeline: PipelineFile, name: str, env: EnvironmentFile, doc: Document
) -> list[Problem]:
    problems: list[Problem] = []

    def problem(path: tuple[str | int, ...], message: str) -> None:
        problems.append(Problem(doc.file, doc.line_of(path), _key(path), message))

    partition = partition_of(env.region)
    toolchain_partition = partition_of(pipeline.toolchain.region)
    if partition != toolchain_partition:
        problem(
            ("region",),
            f"{env.region} is in the {partition} partition and the toolchain's "
            f"{pipeline.toolchain.region} in {toolchain_partition}; one pipeline cannot deploy "
            "across partitions",
        )
    for service in env.services:
        if service not in pipeline.services:
            problem(
                ("services", service), unknown_name("service", service, list(pipeline.services))
            )
            continue
        for var, arn in env.services[service].secrets.items():
            parts = arn.split(":")
            if parts[1] != partition or parts[3] != env.region or parts[4] != env.account:
                problem(
                    ("services", service, "secrets", var),
                    f"secret {arn} must be in this environment's account {env.account} and "
                    f"region {env.region}",
                )
    rules: dict[str, str] = {}
    for i, alarm in enumerate(env.alarms):
        if "#{" in alarm:  # CodePipeline would read it as a variable in the bake rule
            problem(("alarms", i), f"{alarm!r}: '#{{' would be read as a pipeline variable")
        elif (rule := naming.bake_rule(alarm)) in rules and env.bake_minutes is not None:
            problem(
                ("alarms", i),
                f"{alarm!r} and {rules[rule]!r} would both be the bake rule {rule!r} "
                "(CodePipeline allows A-Z, a-z, 0-9 and .@_- in rule names); rename one alarm",
            )
        rules.setdefault(naming.bake_rule(alarm), alarm)
    if env.load_balancer:
        parts = env.load_balancer.listener_arn.split(":")
        if parts[1] != partition or parts[3] != env.region or parts[4] != env.account:
            problem(
                ("load_balancer", "listener_arn"),
                f"the listener must be in this environment's account {env.account} and region "
                f"{env.region}",
            )
        served = [s for s, spec in pipeline.services.items() if spec.port is not None]
        unrouted = [s for s in served if pipeline.services[s].path is None]
        if len(unrouted) > 1:
            problem(
                ("load_balancer", "host"),
                f"services {', '.join(unrouted)} would share host {env.load_balancer.host}; give "
                "all but one of them a `path` in pipeline.yaml",
            )
        last = env.load_balancer.priority + len(served) - 1
        if last > 50000:
            problem(
                ("load_balancer", "priority"),
                f"{len(served)} services need rule priorities up to {last}; the maximum is 50000",
            )
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


def _rollout_problems(
    project: Project, pipeline_doc: Document, env_docs: dict[str, Document]
) -> list[Problem]:
    """Checks on the effective rollout settings, which may come from two files."""
    problems: list[Problem] = []
    for env in project.environments:
        doc = env_docs[env.name]
        if env.bake_minutes is not None and not env.alarms:
            problems.append(
                Problem(
                    doc.file,
                    doc.line_of(("bake_minutes",)),
                    "bake_minutes",
                    "bake time watches the environment's `alarms`; name at least one alarm",
                )
            )
        if env.bake_minutes is not None and len(env.alarms) > MAX_RULES_PER_CONDITION:
            problems.append(
                Problem(
                    doc.file,
                    doc.line_of(("alarms",)),
                    "alarms",
                    f"bake time watches at most {MAX_RULES_PER_CONDITION} alarms (one "
                    "CodePipeline condition rule each); combine them in a composite alarm",
                )
            )
        for service in project.services:
            rollout = project.rollout(env, service)
            overridden = bool(project.settings(env, service).rollout.written())
            where = (
                (doc, ("services", service, "rollout"))
                if overridden
                else (
                    pipeline_doc,
                    ("services", service, "rollout"),
                )
            )
            for message in _rollout_conflicts(rollout):
                file_doc, path = where
                problems.append(
                    Problem(
                        file_doc.file,
                        file_doc.line_of(path),
                        _key(path),
                        f"{message} (in {env.name})",
                    )
                )
    return problems


def _rollout_conflicts(rollout: ResolvedRollout) -> list[str]:
    conflicts = []
    if rollout.health_check_timeout >= rollout.health_check_interval:
        conflicts.append(
            f"health_check_timeout ({rollout.health_check_timeout} s) must be shorter than "
            f"health_check_interval ({rollout.health_check_interval} s)"
        )
    if rollout.maximum_percent <= rollout.minimum_healthy_percent:
        conflicts.append(
            f"maximum_percent ({rollout.maximum_percent}) must be above minimum_healthy_percent "
            f"({rollout.minimum_healthy_percent}), or a deployment can never start a new task"
        )
    return conflicts


def _user_patterns(name: str, spec: RunnerSpec) -> list[tuple[tuple[str | int, ...], str]]:
    """(key path, pattern) of every pattern a user-written runner gives its scripts."""
    found: list[tuple[tuple[str | int, ...], str]] = []
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


def _runner_problems(
    project: Project, pipeline_doc: Document, env_docs: dict[str, Document]
) -> list[Problem]:
    """Runners and steps that cannot work: each step is admitted by the allow-list at synth."""
    problems: list[Problem] = []
    if not project.runners:
        return problems
    from pipelines.invoker.allowlist import Refused

    def problem(doc: Document, path: tuple[str | int, ...], message: str) -> None:
        problems.append(Problem(doc.file, doc.line_of(path), _key(path), message))

    for name, entry in project.runners.items():
        if not isinstance(entry, BuiltinRunner):
            for path, pattern in _user_patterns(name, entry):
                if why := backtracking_problem(pattern):
                    problem(pipeline_doc, path, f"pattern {pattern!r}: {why}")
            continue
        if entry.on is not None and entry.builtin != "image-builder":
            problem(pipeline_doc, ("runners", name, "on"), "only image-builder can change `on`")
        if project.runner is None or project.runner.image is None:
            problem(
                pipeline_doc,
                ("runners", name),
                f"the built-in {entry.builtin} needs `runner.image` in pipeline.yaml: an image "
                "with Python and this package (and the tool the runner calls)",
            )
    if problems:
        return problems
    allowed = runners.allow_list(project)
    namespaces = set(BUILT_IN_NAMESPACES)  # grows with each step, in the order steps run
    for env in project.environments:
        doc = env_docs[env.name]
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
            if name not in _step_runners(env):
                problem(
                    doc,
                    ("runners", name),
                    f"no step of {env.name} runs {name}, so these settings would apply to "
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
        seen: Counter[str] = Counter()
        for phase, texts in env.steps.phases():
            for i, text in enumerate(texts):
                path = ("steps", phase, i)
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
                key = f"{admitted.runner}.{admitted.script}"
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
                if admitted.on == "codebuild" and admitted.deferred:
                    problem(
                        doc,
                        path,
                        f"{admitted.runner} runs on CodeBuild, where nothing checks arguments "
                        "again at run time: give it fixed arguments, not #{...} variables",
                    )
    return problems


def _step_runners(env: Environment) -> set[str]:
    """The runners env's steps name (as written: refusals are reported on their own)."""
    return {
        text.split(None, 1)[0].partition(".")[0]
        for _, texts in env.steps.phases()
        for text in texts
        if text.strip()
    }


def _runner_name_lengths(project: Project, doc: Document) -> list[Problem]:
    """Runner role names within IAM's 64 characters: one problem per runner."""
    problems: list[Problem] = []
    if not project.runners:
        return problems
    allowed = runners.allow_list(project)
    for name in allowed:
        made = list(naming.runner_role_names(project.app, None, name))
        made += [
            role
            for env in project.environments
            if any(s.runner == name for s in runners.environment_steps(project, env))
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


def _name_clashes(project: Project, doc: Document) -> list[Problem]:
    """Two things that would get one name: stacks, or IAM roles in one account.

    Names join the app, environment, service and runner names with hyphens, so a service called
    `deploy` would be the environment's deploy stack, and a service `runner-x` would share roles
    with the runner `x`.
    """
    app = project.app
    owners: dict[tuple[str, str], str] = {}  # (account or "stack", name) -> what it is
    clashes: list[Problem] = []
    reported: set[tuple[str | int, ...] | None] = set()

    def claim(scope: str, name: str, what: str, key: tuple[str | int, ...] | None) -> None:
        other = owners.setdefault((scope, name), what)
        if other != what and key not in reported:  # one problem per key is enough to act on
            reported.add(key)
            line = doc.line_of(key) if key else None
            kind = "stack" if scope == "stack" else "IAM role"
            clashes.append(
                Problem(
                    doc.file,
                    line,
                    _key(key) if key else "",
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


def _priority_clashes(project: Project, env_docs: dict[str, Document]) -> list[Problem]:
    """Environments whose listener rules would take the same priority on one listener: each
    environment's routed services take priorities from its `priority` up, and a listener
    refuses a second rule with a priority it has."""
    routed = len(project.routed_services())
    taken: dict[tuple[str, int], str] = {}
    problems = []
    for env in project.environments:
        if env.load_balancer is None or not routed:
            continue
        first = env.load_balancer.priority
        listener = env.load_balancer.listener_arn
        other = next(
            (taken[(listener, p)] for p in range(first, first + routed) if (listener, p) in taken),
            None,
        )
        if other is not None:
            key = ("load_balancer", "priority")
            problems.append(
                Problem(
                    env_docs[env.name].file,
                    env_docs[env.name].line_of(key),
                    _key(key),
                    f"{env.name}'s {_rules(first, routed)} on the listener {other} also "
                    "uses; choose priorities that do not overlap",
                )
            )
            continue
        taken |= {(listener, p): env.name for p in range(first, first + routed)}
    return problems


def _rules(first: int, count: int) -> str:
    if count == 1:
        return f"rule takes priority {first}"
    return f"{count} rules take priorities {first}-{first + count - 1}"


def _prefix_clashes(project: Project, doc: Document) -> list[Problem]:
    """Services whose resources would carry names the environment's CloudFormation role is
    denied: it reaches the environment's resources by the prefix `<app>-<env>-`, minus the
    runner's (`<app>-<env>-runner…`) and those of another environment of the same account whose
    name extends this one's (`dev` and `dev-eu`)."""
    problems = []
    for service in sorted(project.services):
        key = ("services", service)
        if service == "runner" or service.startswith("runner-"):
            problems.append(
                Problem(
                    doc.file,
                    doc.line_of(key),
                    _key(key),
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
                Problem(
                    doc.file,
                    doc.line_of(key),
                    _key(key),
                    f"in {env.name}, this service's resources would be named "
                    f"{naming.service_name(project.app, env.name, service)}, like "
                    f"{other.name}'s, which shares account {env.account}; rename the "
                    "service or one of the environments",
                )
            )
    return problems


def _pipeline_problems(pipeline: PipelineFile, doc: Document) -> list[Problem]:
    problems: list[Problem] = []
    if pipeline.image.release_tag.startswith(naming.DEPLOYED_TAG_PREFIX):
        problems.append(
            Problem(
                doc.file,
                doc.line_of(("image", "release_tag")),
                "image.release_tag",
                f"{pipeline.image.release_tag!r} starts with {naming.DEPLOYED_TAG_PREFIX!r}, "
                "which the release marker's tags use (deployed-<env> marks what an environment "
                "runs); choose another release tag",
            )
        )
    current = {naming.deployed_tag(env): env for env in pipeline.promotion}
    for i, env in enumerate(pipeline.promotion):
        other = current.get(naming.previous_deployed_tag(env))
        if other is not None:
            problems.append(
                Problem(
                    doc.file,
                    doc.line_of(("promotion", i)),
                    f"promotion[{i}]",
                    f"environments {env!r} and {other!r} would share the image tag "
                    f"{naming.deployed_tag(other)!r} (what {other} runs, and what {env} ran "
                    "before); rename one",
                )
            )
    partition = partition_of(pipeline.toolchain.region)
    for i, arn in enumerate(pipeline.image.push_principals):
        if arn.split(":")[1] != partition:
            problems.append(
                Problem(
                    doc.file,
                    doc.line_of(("image", "push_principals", i)),
                    f"image.push_principals[{i}]",
                    f"{arn} is not in the toolchain's partition ({partition})",
                )
            )
    return problems


# Turning pydantic's errors into problems with a file, line and key ----------------------------


def _validate(model: type[M], doc: Document) -> M:
    if not isinstance(doc.data, dict):
        raise ConfigError(
            [Problem(doc.file, doc.line_of(()), "", "expected a mapping of keys to values")]
        )
    try:
        return model.model_validate(doc.data)
    except ValidationError as error:
        raise ConfigError([_problem(model, doc, e) for e in error.errors()]) from None


def _problem(model: type[BaseModel], doc: Document, error: Any) -> Problem:
    loc = _document_loc(doc.data, error["loc"])
    # pydantic adds '[key]' to the location when a mapping key itself is invalid
    key_error = "[key]" in error["loc"]
    line = doc.line_of(loc)
    kind = error["type"]
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        allowed = _fields_at(model, loc[:-1])
        message = unknown_name("key", str(loc[-1]), allowed)
    elif kind == "missing":
        message = "missing required key"
    elif key_error and kind == "literal_error":  # a key that must be one of a few names
        known = _QUOTED.findall(str(error.get("ctx", {}).get("expected", "")))
        message = unknown_name("name", str(error.get("input")), known)
    elif key_error:
        message = f"invalid name: {message}"
    elif kind.endswith(("_type", "_parsing", "_than", "_than_equal")):
        shown = repr(error.get("input"))
        message = f"{message} (got {shown[:60]})"
    return Problem(doc.file, line, _key(loc), message)


_QUOTED = re.compile(r"'([^']*)'")  # the names in pydantic's "'A', 'B' or 'C'"


def _document_loc(data: Any, error_loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    """pydantic's error location without the parts it adds itself ('[key]', union tags).

    A part that is a key the user wrote is kept even if it looks like one of those ('-x', '[x]').
    """
    loc: list[str | int] = []
    for part in error_loc:
        if (isinstance(data, dict) and part in data) or (
            isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        ):
            data = data[part]
        elif isinstance(part, str) and ("[" in part or part[:1] == "-"):
            continue
        else:
            data = None
        loc.append(part)
    return tuple(loc)


def _key(loc: tuple[str | int, ...]) -> str:
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else part)
    return key


def _fields_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """The keys allowed at `loc`, for a 'did you mean' hint."""
    annotation: Any = model
    for part in loc:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return []
            annotation = field.annotation
        else:  # a list or dict: step into its value type
            args = typing.get_args(annotation)
            if not args:
                return []
            annotation = args[-1]
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = options[0]
        else:
            return annotation
