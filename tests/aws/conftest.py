from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from pipelines.aws import cloudformation
from pipelines.local.changesets import cloudformation_like_change_sets
from pipelines.local.embedded import Accounts
from pipelines.local.serial import one_request_at_a_time
from tests.aws.stubs import StubbedClients
from tests.aws.workspace import Workspace
from tests.support import EXAMPLE


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto and the stubs answer at once: poll without sleeping."""
    monkeypatch.setattr(cloudformation, "POLL_SECONDS", 0)


@pytest.fixture
def aws(fake_aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Accounts]:
    """moto for every account and region, with change sets that behave like CloudFormation's."""
    monkeypatch.delenv("PIPELINES_ROLE_NAME", raising=False)
    with mock_aws(), one_request_at_a_time(), cloudformation_like_change_sets():
        yield Accounts()


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    """A copy of the example environments/ and its synth, in a temporary directory."""
    return Workspace.from_example(EXAMPLE, tmp_path)


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> Iterator[StubbedClients]:
    """Stubbed clients that the CLI's verbs get instead of real sessions; every queued
    response must have been asked for by the end of the test."""
    clients = StubbedClients()
    monkeypatch.setattr("pipelines.aws.session.Sessions", lambda *args: clients)
    yield clients
    clients.verify()
