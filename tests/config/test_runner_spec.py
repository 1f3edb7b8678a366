from typing import get_args

import pytest
from pydantic import ValidationError

from pipelines.builders.iam import _OPERATORS
from pipelines.config.builtin_runners import _BUILDERS
from pipelines.config.models import BuiltinRunner
from pipelines.config.permissions import CONDITION_OPERATORS, ConditionOperator, Permission
from pipelines.config.runner_spec import BUILTIN_NAMES, BuiltinName, RunnerSpec

SCRIPT = {"command": ["python", "-m", "app.migrate"]}


def _runner(**overrides):
    return RunnerSpec(
        **{"on": "ecs", "image": "release", "scripts": {"migrate": SCRIPT}, **overrides}
    )


def test_a_plain_runner_is_accepted() -> None:
    runner = _runner(
        secrets={"DATABASE_URL": "arn:aws:secretsmanager:eu-west-1:111111111111:secret:db"}
    )
    assert runner.scripts["migrate"].command == ["python", "-m", "app.migrate"]


def test_privileged_is_refused_outside_codebuild() -> None:
    with pytest.raises(ValidationError, match="privileged is for CodeBuild runners"):
        _runner(privileged=True)
    assert _runner(on="codebuild", privileged=True).privileged


@pytest.mark.parametrize("token", ["migrate\n--fake", "a\x00b", "tab\there", "del\x7f"])
def test_control_characters_in_what_is_always_passed_are_refused(token) -> None:
    with pytest.raises(ValidationError, match="control character"):
        _runner(scripts={"migrate": {"command": ["python", token]}})
    with pytest.raises(ValidationError, match="control character"):
        _runner(scripts={"migrate": {**SCRIPT, "options": [token]}})


@pytest.mark.parametrize(
    ("name", "arn", "message"),
    [
        (
            "DATABASE_URL",
            "arn:aws:ssm:eu-west-1:111111111111:parameter/db",
            "not a Secrets Manager",
        ),
        ("DATABASE_URL", "db-password", "not a Secrets Manager"),
        ("1BAD", "arn:aws:secretsmanager:eu-west-1:111111111111:secret:db", "variable name"),
    ],
)
def test_secrets_are_secrets_manager_arns_under_variable_names(name, arn, message) -> None:
    with pytest.raises(ValidationError, match=message):
        _runner(secrets={name: arn})


def test_the_builtin_names_are_the_literal_type_the_schema_and_the_builders() -> None:
    assert get_args(BuiltinName) == BUILTIN_NAMES
    assert tuple(_BUILDERS) == BUILTIN_NAMES
    schema = BuiltinRunner.model_json_schema()
    assert tuple(schema["properties"]["builtin"]["enum"]) == BUILTIN_NAMES


def test_the_condition_operators_are_the_literal_type_the_schema_and_the_renderer() -> None:
    assert get_args(ConditionOperator) == CONDITION_OPERATORS
    schema = Permission.model_json_schema()
    assert tuple(schema["properties"]["conditions"]["propertyNames"]["enum"]) == (
        CONDITION_OPERATORS
    )
    assert set(CONDITION_OPERATORS) <= set(_OPERATORS)
