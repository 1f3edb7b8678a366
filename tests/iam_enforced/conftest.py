from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.iam_enforced.world import (
    World,
    deployed,
    give_containers_memory,
    networks_can_run_tasks,
)
from tests.support import FIXTURES

# The fixture the runner tests share: every kind of runner step, toolchain and environment
# runners, four environments in two accounts and two regions.
EVERY_STEP = FIXTURES / "valid" / "every-step"


@pytest.fixture(scope="module")
def every_step(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """every-step deployed on moto as `pipelines rehearse` deploys it, ECS tasks held in the
    state a test puts them in. Nothing is enforced until a test enters an Enforcement."""
    from moto.moto_api import state_manager

    with pytest.MonkeyPatch.context() as patch:
        # moto loads a list of AMIs into every EC2 backend it makes (one per account and
        # region); nothing here uses them.
        patch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
        with deployed(EVERY_STEP, tmp_path_factory.mktemp("every-step")) as world:
            give_containers_memory(world)
            networks_can_run_tasks(world)
            state_manager.set_transition("ecs::task", {"progression": "manual", "times": 10**9})
            try:
                yield world
            finally:
                state_manager.unset_transition("ecs::task")
