"""The AWS clients the interpreter acts with: as an action's role, or as the pipeline's account.

boto3 clients are untyped here (`Any`): the service is named at run time, and the rehearsal
reads only the few response keys it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import boto3

from pipelines.aws.session import CLIENT_CONFIG

SESSION_NAME = "pipelines-rehearsal"

# client_for(service, role ARN or None, region): the IAM-enforced tests' way of making every
# client the interpreter acts with (tests/iam_enforced/acting.py).
ClientFor = Callable[[str, str | None, str], Any]


class AccountClients(Protocol):
    """A client per service, account and region (embedded.Accounts, aws.session.Sessions)."""

    def client(self, service: str, account: str, region: str) -> Any: ...


def session_client(session: boto3.Session, service: str, **options: Any) -> Any:
    """`session.client(service, ...)` for a service named at run time, retrying as the verbs'
    clients retry (CLIENT_CONFIG) unless `options` give a `config` of their own.

    The retries are what keeps a moto server in another process usable: it serves requests in
    threads of their own, and a request made with assumed-role credentials can fail there with
    a 500 ("dictionary changed size during iteration") while another request creates a role.
    serial.py's lock cannot reach that process; a 500 is a transient server error that botocore
    retries, with backoff, like AWS's own.
    """
    make: Callable[..., Any] = session.client
    return make(service, **{"config": CLIENT_CONFIG, **options})


class ActionClients:
    """A client of the account an action's role is in, with that role's credentials (the role
    assumed once, with the pipeline account's credentials); without a role, the pipeline's own
    account. `client_for`, if given, makes every one of them instead."""

    def __init__(
        self,
        clients: AccountClients,
        account: str,
        region: str,
        client_for: ClientFor | None = None,
    ) -> None:
        self.clients = clients
        self.account, self.region = account, region
        self.client_for = client_for
        self._sessions: dict[str, boto3.Session] = {}  # role ARN -> its session
        self._made: dict[tuple[str, str, str], Any] = {}

    def client(self, service: str, role_arn: str | None, region: str) -> Any:
        if self.client_for is not None:
            return self.client_for(service, role_arn, region)
        if not role_arn:
            return self.clients.client(service, self.account, region)
        key = (role_arn, service, region)
        if key not in self._made:
            self._made[key] = session_client(self._session(role_arn), service, region_name=region)
        return self._made[key]

    def in_account(self, service: str, account: str, region: str) -> Any:
        """A client of `account` with the credentials the rehearsal has there, no role."""
        return self.clients.client(service, account, region)

    def _session(self, role_arn: str) -> boto3.Session:
        if role_arn not in self._sessions:
            sts = self.clients.client("sts", self.account, self.region)
            credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=SESSION_NAME)[
                "Credentials"
            ]
            self._sessions[role_arn] = boto3.Session(
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
            )
        return self._sessions[role_arn]
