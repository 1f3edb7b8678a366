from __future__ import annotations

import pytest

from pipelines.render import Synthesis
from pipelines.synth import synthesize
from tests.support import CONFIGURATIONS, config_id


@pytest.fixture(scope="session")
def syntheses() -> dict[str, Synthesis]:
    """Every configuration synthesized once per test session, by id."""
    return {config_id(p): synthesize(p) for p in CONFIGURATIONS}


@pytest.fixture
def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials and a region for moto, and nothing that could point boto3 at a real account
    or another endpoint."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "MOTO_ACCOUNT_ID", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
