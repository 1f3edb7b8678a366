import pytest
from pydantic import ValidationError

from pipelines.config.runner_spec import RunnerSpec

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
