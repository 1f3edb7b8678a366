"""Sessions: the caller's own account directly, any other by assuming a role there."""

from __future__ import annotations

import botocore.session
import pytest
from botocore.stub import Stubber

from pipelines.aws.errors import OperationError
from pipelines.aws.session import Caller, Sessions
from pipelines.local.embedded import Accounts


def _identity(sessions: Sessions, account: str) -> str:
    return sessions.client("sts", account, "eu-west-1").get_caller_identity()["Arn"]


def test_other_accounts_are_reached_through_the_role(
    aws: Accounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = Sessions()
    assert sessions.caller.account == "123456789012"  # moto's default
    assert _identity(sessions, "123456789012") == sessions.caller.arn  # no role for one's own
    assert _identity(sessions, "333333333333").startswith(
        "arn:aws:sts::333333333333:assumed-role/OrganizationAccountAccessRole/pipelines-cli"
    )
    assert sessions.where("333333333333", "eu-west-1") == (
        "account 333333333333, eu-west-1, as "
        "arn:aws:iam::333333333333:role/OrganizationAccountAccessRole"
    )
    # One client per service, account and region, with botocore's adaptive retries.
    client = sessions.client("cloudformation", "333333333333", "eu-west-1")
    assert client is sessions.client("cloudformation", "333333333333", "eu-west-1")
    assert client.meta.config.retries == {
        "mode": "adaptive",
        "total_max_attempts": 11,
    }  # 10 retries

    monkeypatch.setenv("PIPELINES_ROLE_NAME", "release-admin")
    assert "assumed-role/release-admin/" in _identity(Sessions(), "333333333333")
    assert "assumed-role/deployer/" in _identity(Sessions(role="deployer"), "333333333333")


def test_a_role_that_cannot_be_assumed_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("PIPELINES_ROLE_NAME", raising=False)
    sessions = Sessions(region="eu-west-1")
    sessions._caller = Caller("111111111111", "arn:aws:sts::111111111111:assumed-role/dev/bob")
    sts = botocore.session.get_session().create_client(
        "sts", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stubber = Stubber(sts)
    stubber.add_client_error(
        "assume_role",
        service_error_code="AccessDenied",
        service_message="User: arn:aws:sts::111111111111:assumed-role/dev/bob is not authorized "
        "to perform: sts:AssumeRole on resource: "
        "arn:aws:iam::333333333333:role/OrganizationAccountAccessRole",
        http_status_code=403,
    )
    stubber.activate()
    monkeypatch.setattr(sessions._base, "client", lambda *args, **kwargs: sts)
    with pytest.raises(OperationError) as refused:
        sessions.client("cloudformation", "333333333333", "eu-west-1")
    message = str(refused.value)
    assert message.startswith(
        "cannot assume arn:aws:iam::333333333333:role/OrganizationAccountAccessRole as "
        "arn:aws:sts::111111111111:assumed-role/dev/bob: User: "
    )
    assert "Pass --role-name (or set PIPELINES_ROLE_NAME)" in message
