"""Read environments/ into a checked Project. Every problem names its file, line and key.

The loader reads the files, validates each against its schema and builds the Project; the
rules that look across keys and files are in `config/rules/`, run here in their groups.
"""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel, ValidationError

from pipelines.config.models import Environment, EnvironmentFile, PipelineFile, Project
from pipelines.config.rules import (
    ENVIRONMENT_RULES,
    LATER_PROJECT_RULES,
    PIPELINE_RULES,
    PROJECT_RULES,
    Documents,
    key_of,
)
from pipelines.config.rules.images import missing_image
from pipelines.config.yaml_source import Document, read_document
from pipelines.errors import ConfigError, Problem, unknown_name

PIPELINE_FILE = "pipeline.yaml"

M = TypeVar("M", bound=BaseModel)


class Files(NamedTuple):
    """The files of environments/, each valid on its own: not yet checked against each other."""

    pipeline: PipelineFile
    environments: dict[str, EnvironmentFile]  # in promotion order
    documents: Documents


def load_project(directory: Path) -> Project:
    files = read_files(directory)
    problems = file_problems(files)
    if problems:
        raise ConfigError(problems)
    project = build_project(files)
    problems = project_problems(project, files.documents)
    if problems:
        raise ConfigError(problems)
    return project


def read_files(directory: Path) -> Files:
    """Read and schema-validate pipeline.yaml and every environment file it promotes to."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError([Problem(directory, None, "", "no such directory")])
    pipeline_doc = read_document(directory / PIPELINE_FILE)
    try:
        pipeline = _validate(PipelineFile, pipeline_doc)
    except ConfigError as error:
        raise ConfigError(_with_missing_image(error.problems, pipeline_doc)) from None

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
    return Files(pipeline, env_files, Documents(pipeline_doc, env_docs))


def file_problems(files: Files) -> list[Problem]:
    """The environment rules on each environment file in promotion order, then the pipeline
    rules on pipeline.yaml."""
    problems: list[Problem] = []
    for name in files.pipeline.promotion:
        env_file, doc = files.environments[name], files.documents.environments[name]
        for environment_rule in ENVIRONMENT_RULES:
            problems += environment_rule(files.pipeline, name, env_file, doc)
    for pipeline_rule in PIPELINE_RULES:
        problems += pipeline_rule(files.pipeline, files.documents.pipeline)
    return problems


def build_project(files: Files) -> Project:
    """The Project the files describe, with each environment's defaults filled in."""
    pipeline = files.pipeline
    environments = []
    for index, name in enumerate(pipeline.promotion):
        env_file = files.environments[name]
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
                approval_timeout_minutes=env_file.approval_timeout_minutes,
                deploy_window=env_file.deploy_window,
            )
        )
    return Project(
        app=pipeline.app,
        toolchain=pipeline.toolchain,
        # The rules have checked that exactly one of `image` and `images` is written; a project
        # of several images has no one image (Project.pipeline_image).
        image=pipeline.image,
        images=pipeline.images or {},
        services=pipeline.services,
        notifications=pipeline.notifications,
        environments=tuple(environments),
        runner=pipeline.runner,
        runners=pipeline.runners,
    )


def project_problems(project: Project, documents: Documents) -> list[Problem]:
    """The project rules, then the later ones only if those found nothing."""
    problems = [p for rule in PROJECT_RULES for p in rule(project, documents)]
    if not problems:
        problems = [p for rule in LATER_PROJECT_RULES for p in rule(project, documents)]
    return problems


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


def _with_missing_image(problems: list[Problem], doc: Document) -> list[Problem]:
    """The schema's problems, and a missing `image` where a missing required key would be
    reported (after `app` and `toolchain`), if pipeline.yaml has neither `image` nor `images`."""
    data = doc.data
    if not isinstance(data, dict) or "image" in data or "images" in data:
        return problems
    before = sum(1 for p in problems if p.key.split(".")[0] in ("app", "toolchain"))
    return [*problems[:before], missing_image(doc), *problems[before:]]


def _misnamed(directory: Path, name: str) -> bool:
    """A <name>.yml file exists: it gets its own "rename" problem, not a "no file" one."""
    return (directory / f"{name}.yml").exists()


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
    return Problem(doc.file, line, key_of(loc), message)


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
