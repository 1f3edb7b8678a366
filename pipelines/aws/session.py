"""boto3 clients for any account and region the manifest names, from one set of credentials.

The caller's own credentials come from the standard chain (`--profile`, `AWS_PROFILE`, the
environment, SSO, instance roles). For an account other than the caller's, the tool assumes
`arn:<partition>:iam::<account>:role/<role name>`: `--role-name`, else `PIPELINES_ROLE_NAME`,
else `OrganizationAccountAccessRole`, the role AWS Organizations creates in member accounts.
Assumed credentials refresh themselves, so a deploy that waits longer than an hour keeps going.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import CredentialProvider, RefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError

from pipelines import __version__, naming
from pipelines.aws.errors import OperationError, error_code, error_message, explain

DEFAULT_ROLE_NAME = "OrganizationAccountAccessRole"
ROLE_NAME_VARIABLE = "PIPELINES_ROLE_NAME"
SESSION_NAME = "pipelines-cli"

# Throttling is retried by botocore itself: adaptive mode adds client-side rate limiting to the
# exponential backoff, which matters when a wave polls many stacks at once. Transient server
# errors (HTTP 500, 502, 503, 504) are retried too, which is also what carries the tool through
# a moto server's occasional 500 when it serves concurrent requests (pipelines/local/serial.py).
CLIENT_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": 10},
    user_agent_extra=f"pipelines/{__version__}",
)


@dataclass(frozen=True)
class Caller:
    account: str
    arn: str

    @property
    def partition(self) -> str:
        return self.arn.split(":")[1]


class Clients(Protocol):
    """What the verbs need from AWS: a client per service, account and region, and who calls."""

    @property
    def caller(self) -> Caller: ...

    def client(self, service: str, account: str, region: str) -> Any: ...

    def where(self, account: str, region: str) -> str: ...


def role_name(option: str | None) -> str:
    return option or os.environ.get(ROLE_NAME_VARIABLE) or DEFAULT_ROLE_NAME


class Sessions:
    """Clients per (service, account, region), made lazily and cached; safe to use from threads.

    One boto3 session per account: the caller's own, or one whose credentials come from
    assuming the role in that account. Clients are thread-safe; making them is not, hence the lock.
    """

    def __init__(
        self, profile: str | None = None, region: str | None = None, role: str | None = None
    ) -> None:
        self._base = boto3.Session(profile_name=profile, region_name=region)
        self._default_region = region or self._base.region_name or "us-east-1"
        self.role_name = role_name(role)
        self._lock = threading.RLock()
        self._caller: Caller | None = None
        self._sessions: dict[str, boto3.Session] = {}
        self._clients: dict[tuple[str, str, str], Any] = {}

    @property
    def caller(self) -> Caller:
        with self._lock:
            if self._caller is None:
                sts = self._base.client(
                    "sts", region_name=self._default_region, config=CLIENT_CONFIG
                )
                identity = sts.get_caller_identity()
                self._caller = Caller(identity["Account"], identity["Arn"])
            return self._caller

    def role_arn(self, account: str) -> str:
        return naming.role_arn(self.caller.partition, account, self.role_name)

    def where(self, account: str, region: str) -> str:
        if account == self.caller.account:
            return f"account {account}, {region}, as {self.caller.arn}"
        return f"account {account}, {region}, as {self.role_arn(account)}"

    def client(self, service: str, account: str, region: str) -> Any:
        key = (service, account, region)
        with self._lock:
            if key not in self._clients:
                session = self._session(account)
                # A service named at run time: boto3-stubs types client() per literal name.
                make: Callable[..., Any] = session.client
                self._clients[key] = make(service, region_name=region, config=CLIENT_CONFIG)
            return self._clients[key]

    def _session(self, account: str) -> boto3.Session:
        if account == self.caller.account:
            return self._base
        if account not in self._sessions:
            self._sessions[account] = self._assumed(account)
        return self._sessions[account]

    def _assumed(self, account: str) -> boto3.Session:
        arn = self.role_arn(account)
        sts = self._base.client("sts", region_name=self._default_region, config=CLIENT_CONFIG)

        def fetch() -> dict[str, str]:
            try:
                credentials = sts.assume_role(RoleArn=arn, RoleSessionName=SESSION_NAME)[
                    "Credentials"
                ]
            except ClientError as error:
                if error_code(error) in ("AccessDenied", "AccessDeniedException"):
                    raise OperationError(
                        f"cannot assume {arn} as {self.caller.arn}: {error_message(error)}. "
                        f"Pass --role-name (or set {ROLE_NAME_VARIABLE}) to a role in account "
                        f"{account} that you may assume, or run with credentials of that account"
                    ) from None
                raise explain(error, f"assuming {arn}") from None
            except BotoCoreError as error:
                raise explain(error, f"assuming {arn}") from None
            expiry = credentials["Expiration"]
            if isinstance(expiry, datetime):
                expiry = expiry.astimezone(UTC).isoformat()
            return {
                "access_key": credentials["AccessKeyId"],
                "secret_key": credentials["SecretAccessKey"],
                "token": credentials["SessionToken"],
                "expiry_time": expiry,
            }

        core = botocore.session.Session()
        provider = _AssumedRoleProvider(fetch)
        provider.load()  # assume now, so a role that cannot be assumed fails here, plainly
        core.get_component("credential_provider").insert_before("env", provider)
        return boto3.Session(botocore_session=core)


class _AssumedRoleProvider(CredentialProvider):
    """Credentials from sts:AssumeRole that botocore refreshes before they expire."""

    METHOD = "pipelines-assume-role"
    CANONICAL_NAME = "pipelines-assume-role"

    def __init__(self, fetch: Any) -> None:
        super().__init__()
        self._fetch = fetch
        self._credentials: RefreshableCredentials | None = None

    def load(self) -> RefreshableCredentials:
        if self._credentials is None:
            self._credentials = RefreshableCredentials.create_from_metadata(
                metadata=self._fetch(), refresh_using=self._fetch, method=self.METHOD
            )
        return self._credentials
