"""AWS errors become one line that says what to do, and the CLI exits without a traceback."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, NoCredentialsError

from pipelines.aws.errors import BAD_INPUT, FAILED, explain
from tests.aws.workspace import Workspace


def _client_error(code: str, message: str, operation: str = "CreateChangeSet") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (NoCredentialsError(), "no AWS credentials found: set AWS_PROFILE or pass --profile"),
        (
            _client_error("ExpiredToken", "The security token included in the request is expired"),
            "your AWS credentials have expired or are not valid (account 333333333333, "
            "eu-west-1, as arn:aws:iam::333333333333:role/OrganizationAccountAccessRole) "
            "(ExpiredToken): refresh them",
        ),
        (
            _client_error(
                "AccessDenied",
                "User: arn:aws:sts::333333333333:assumed-role/OrganizationAccountAccessRole/"
                "pipelines-cli is not authorized to perform: cloudformation:CreateChangeSet",
            ),
            "access denied (account 333333333333, eu-west-1, as arn:aws:iam::333333333333:role/"
            "OrganizationAccountAccessRole): CreateChangeSet was refused: User: ",
        ),
        (
            _client_error(
                "ValidationError",
                "Stack:arn:aws:cloudformation:eu-west-1:333333333333:stack/shop-prod-web/1 is in "
                "UPDATE_ROLLBACK_FAILED state and can not be updated.",
            ),
            "continue-update-rollback --stack-name <stack>",
        ),
        (
            _client_error("Throttling", "Rate exceeded", "DescribeStackEvents"),
            "AWS kept throttling DescribeStackEvents",
        ),
        (
            _client_error(
                "PipelineNotFoundException",
                "does not include a pipeline with the name 'shop-release'",
                "GetPipelineState",
            ),
            "Create it with `pipelines deploy`",
        ),
    ],
)
def test_errors_are_explained(error: Exception, expected: str) -> None:
    where = (
        "account 333333333333, eu-west-1, as "
        "arn:aws:iam::333333333333:role/OrganizationAccountAccessRole"
    )
    explained = explain(error, where)
    assert expected in str(explained)
    assert "\n" not in str(explained)
    assert explained.exit_code == FAILED


def test_no_credentials_on_the_command_line(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    result = workspace.run("status")
    assert result.exit_code == FAILED
    assert result.output.startswith("error: no AWS credentials found")
    assert "Traceback" not in result.output

    profile = workspace.run("status", "--profile", "nope")
    assert profile.exit_code == BAD_INPUT
    assert "The config profile (nope) could not be found" in profile.output
