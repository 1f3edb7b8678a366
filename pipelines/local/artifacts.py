"""An execution's artifacts and variables, as its actions read and write them.

Artifacts stay in memory, by name (a zip's bytes); variables by namespace. An action reads
`#{Namespace.Variable}` and `#{codepipeline.PipelineExecutionId}` in its configuration, an
`Artifact::path` of one of its input artifacts, and `Fn::GetParam` in parameter overrides.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Mapping

from pipelines import patterns
from pipelines.local.declaration import Action
from pipelines.local.execution import ActionFailed, Execution, RehearsalError


def resolve_variables(execution: Execution, value: str, where: str) -> str:
    """`value` with its variables replaced by what earlier actions of the execution set."""

    def replace(match: re.Match[str]) -> str:
        namespace, name = match.groups()
        if namespace == "codepipeline" and name == "PipelineExecutionId":
            return execution.id
        try:
            return execution.variables[namespace][name]
        except KeyError:
            if namespace in execution.stood_in:
                raise RehearsalError(
                    f"{where}: variable #{{{namespace}.{name}}} is an output of "
                    f"{execution.stood_in[namespace]}, which the rehearsal stood in for and did "
                    "not run"
                ) from None
            raise RehearsalError(
                f"{where}: variable #{{{namespace}.{name}}} is not set by any earlier action"
            ) from None

    return patterns.VARIABLE.sub(replace, value)


def input_file(execution: Execution, action: Action, path: str, where: str) -> bytes:
    """The file `Artifact::path` names, from one of the action's input artifacts."""
    artifact, _, file = path.partition("::")
    if artifact not in action.input_artifacts:
        raise RehearsalError(
            f"{where}: {path} names artifact {artifact}, which is not an input artifact of the "
            "action"
        )
    return read_artifact(execution, artifact, file)


def read_artifact(execution: Execution, artifact: str, file: str) -> bytes:
    if artifact not in execution.artifacts:
        raise RehearsalError(f"artifact {artifact} was not produced by any earlier action")
    try:
        with zipfile.ZipFile(io.BytesIO(execution.artifacts[artifact])) as bundle:
            return bundle.read(file)
    except (KeyError, zipfile.BadZipFile) as error:
        raise ActionFailed(f"{artifact}::{file}: {error}") from None


def parameter_overrides(execution: Execution, text: str) -> dict[str, str]:
    """A CloudFormation action's ParameterOverrides, each `Fn::GetParam` read from its
    artifact."""
    overrides = json.loads(text)
    if not isinstance(overrides, dict):
        raise RehearsalError(f"parameter overrides {overrides!r} cannot be interpreted")
    resolved = {}
    for key, value in overrides.items():
        if isinstance(value, dict) and list(value) == ["Fn::GetParam"]:
            value = _get_param(execution, key, value["Fn::GetParam"])
        elif not isinstance(value, str):
            raise RehearsalError(f"parameter override {key}: {value!r} cannot be interpreted")
        resolved[key] = value
    return resolved


def _get_param(execution: Execution, key: str, argument: object) -> str:
    if not (
        isinstance(argument, list)
        and len(argument) == 3
        and all(isinstance(part, str) for part in argument)
    ):
        raise RehearsalError(
            f"parameter override {key}: Fn::GetParam {argument!r} is not three names"
        )
    artifact, file, name = argument
    value = json.loads(read_artifact(execution, artifact, file))[name]
    if not isinstance(value, str):
        raise RehearsalError(f"parameter override {key}: Fn::GetParam gave {value!r}, not a string")
    return value


def put_outputs(
    execution: Execution, action: Action, variables: Mapping[str, str], data: bytes | None = None
) -> None:
    """An action's output variables into its namespace, if it has one, and `data` as each of its
    output artifacts."""
    if data is not None:
        for artifact in action.output_artifacts:
            execution.artifacts[artifact] = data
    if action.namespace is not None:
        execution.variables[action.namespace] = dict(variables)
