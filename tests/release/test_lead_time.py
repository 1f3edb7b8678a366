"""The lead-time estimate against a hand computation."""

from pathlib import Path

from pipelines.config.loader import load_project
from pipelines.release.lead_time import estimate, release_total, with_aws_defaults
from tests.config.editing import edited_example
from tests.support import EXAMPLE


def test_example_estimate_matches_the_hand_computation() -> None:
    waits = {w.environment: w for w in estimate(load_project(EXAMPLE))}
    # dev has no load balancer: ECS's fixed 40 s settle time, then a 10 s stop timeout.
    assert waits["dev"].rollout == 40 + 10
    # staging and prod: 2 checks x 10 s to healthy, 30 s draining, 10 s stop timeout.
    assert waits["staging"].rollout == 2 * 10 + 30 + 10
    assert waits["prod"].rollout == 2 * 10 + 30 + 10
    assert waits["prod"].bake == 10 * 60
    assert release_total(list(waits.values())) == 50 + 60 + 660
    # The goal: at most 90 s of configured waits per environment before bake time.
    assert all(w.rollout <= 90 for w in waits.values())
    assert waits["dev"].approval_timeout is None
    assert waits["prod"].approval_timeout == 7 * 24 * 3600


def test_aws_defaults_for_comparison() -> None:
    waits = {w.environment: w for w in with_aws_defaults(load_project(EXAMPLE))}
    assert waits["dev"].rollout == 40 + 30
    # 5 checks x 30 s, 300 s draining, 30 s stop timeout
    assert waits["staging"].rollout == 5 * 30 + 300 + 30
    assert release_total(list(waits.values())) == 70 + 480 + 480 + 600


def test_narrow_percentages_take_several_batches(tmp_path: Path) -> None:
    directory = edited_example(
        tmp_path / "env",
        {
            "staging.yaml": [
                (
                    "    desired_count: 2",
                    "    desired_count: 2\n    rollout:\n      minimum_healthy_percent: 75\n"
                    "      maximum_percent: 100",
                )
            ]
        },
    )
    waits = {w.environment: w for w in estimate(load_project(directory))}
    assert waits["staging"].slowest.batches == 4  # 25 % of the tasks at a time
    assert waits["staging"].rollout == 4 * (2 * 10 + 30 + 10)
