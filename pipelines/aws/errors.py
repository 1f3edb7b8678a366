"""Exit statuses of the verbs that talk to AWS, and botocore errors as one line a person can act on.

The command line runs every verb inside `run_verb` (pipelines/console.py), so nothing that goes
wrong in AWS ends in a traceback: a botocore exception becomes a message that says what failed,
where, and what to do next (`explain`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOError,
    TokenRetrievalError,
)

OK = 0
FAILED = 1  # diff found changes; a deploy or rollback failed; an AWS call failed
BAD_INPUT = 2
REFUSED = 3  # approve/reject found no pending approval, or one for another digest

EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "InvalidClientTokenId"}
DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"}
THROTTLED = {
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
}


class OperationError(Exception):
    """The verb cannot go on. The message says why and what to do; `exit_code` is the status."""

    exit_code = FAILED

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class BadInput(OperationError):
    exit_code = BAD_INPUT


class Refused(OperationError):
    exit_code = REFUSED


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def error_message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", "")).strip()


def explain(error: Exception, where: str = "") -> OperationError:
    """A botocore exception as an OperationError with one actionable line.

    `where` names the account, region and role the call was made with, when the caller knows it.
    """
    at = f" ({where})" if where else ""
    if isinstance(error, OperationError):
        return error
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return OperationError(
            "no AWS credentials found: set AWS_PROFILE or pass --profile (after `aws sso login` "
            "for an SSO profile), or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(error, ProfileNotFound):
        return BadInput(f"{error}: check --profile or AWS_PROFILE against ~/.aws/config")
    if isinstance(error, TokenRetrievalError | SSOError | CredentialRetrievalError):
        return OperationError(
            f"your AWS session has expired or cannot be refreshed ({error}): log in again, for "
            "example `aws sso login --profile <profile>`, and re-run"
        )
    if isinstance(error, NoRegionError):
        return BadInput("no AWS region configured: pass --region or set AWS_REGION")
    if isinstance(error, EndpointConnectionError | ConnectionError):
        return OperationError(f"cannot reach AWS{at}: {error}; check the network and the region")
    if isinstance(error, ClientError):
        return _explain_client_error(error, at)
    if isinstance(error, BotoCoreError):
        return OperationError(f"AWS call failed{at}: {error}")
    raise error


def _explain_client_error(error: ClientError, at: str) -> OperationError:
    code, message = error_code(error), error_message(error)
    operation = error.operation_name
    if code in EXPIRED:
        return OperationError(
            f"your AWS credentials have expired or are not valid{at} ({code}): refresh them, for "
            "example `aws sso login --profile <profile>`, and re-run"
        )
    if code in DENIED:
        return OperationError(
            f"access denied{at}: {operation} was refused: {message or code}. Use credentials "
            "(--profile) or a role (--role-name) that is allowed to do this"
        )
    if code in THROTTLED:
        return OperationError(
            f"AWS kept throttling {operation}{at} through 10 retries with backoff; wait a minute "
            "and re-run"
        )
    if code == "PipelineNotFoundException":
        return OperationError(
            f"pipeline not found{at}: {message}. Create it with `pipelines deploy` (the "
            "<app>-pipeline stack), or check --profile and the toolchain account"
        )
    if code == "ValidationError" and "UPDATE_ROLLBACK_FAILED" in message:
        return OperationError(
            f"{message}{at}. Fix what made the rollback fail, then run `aws cloudformation "
            "continue-update-rollback --stack-name <stack>` and re-run"
        )
    return OperationError(f"{operation} failed{at}: {code}: {message}")


@contextmanager
def located(where: str) -> Iterator[None]:
    """AWS errors inside say where the call went: account, region and the role used."""
    try:
        yield
    except (BotoCoreError, ClientError) as error:
        raise explain(error, where) from None
