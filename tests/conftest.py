from __future__ import annotations

import pytest

from pipelines.render import Synthesis
from pipelines.synth import synthesize
from tests.support import CONFIGURATIONS, config_id


@pytest.fixture(scope="session")
def syntheses() -> dict[str, Synthesis]:
    """Every configuration synthesized once per test session, by id."""
    return {config_id(p): synthesize(p) for p in CONFIGURATIONS}
