"""The lead-time estimate against a hand computation."""

import dataclasses
from pathlib import Path

from pipelines.config.loader import load_project
from pipelines.release.lead_time import (
    estimate,
    release_total,
    shifting_seconds,
    with_aws_defaults,
)
from pipelines.summary import lead_time_summary
from tests.config.editing import edited_example
from tests.support import EXAMPLE


def test_example_estimate_matches_the_hand_computation() -> None:
    waits = {w.environment: w for w in estimate(load_project(EXAMPLE))}
    # dev has no load balancer: ECS's fixed 40 s settle time, then a 10 s stop timeout.
    assert waits["dev"].rollout == 40 + 10
    # staging and prod: 2 checks x 10 s to healthy, 30 s draining, 10 s stop timeout.
    assert waits["staging"].rollout == 2 * 10 + 30 + 10
    # prod's canary: the same, plus 15 minutes at 10 % and 5 with the old revision kept.
    assert waits["prod"].rollout == 2 * 10 + 30 + 10 + (15 + 5) * 60
    assert waits["prod"].slowest.strategy == "canary"
    assert waits["prod"].bake == 10 * 60
    assert release_total(list(waits.values())) == 50 + 60 + 60 + 1200 + 600
    # The goal: at most 90 s of configured waits per environment before bake time, the waits
    # a progressive strategy asks for apart.
    assert all(w.rollout - w.slowest.shifting <= 90 for w in waits.values())
    assert waits["dev"].approval_timeout is None
    assert waits["prod"].approval_timeout == 7 * 24 * 3600


def test_aws_defaults_for_comparison() -> None:
    waits = {w.environment: w for w in with_aws_defaults(load_project(EXAMPLE))}
    assert waits["dev"].rollout == 40 + 30
    # 5 checks x 30 s, 300 s draining, 30 s stop timeout
    assert waits["staging"].rollout == 5 * 30 + 300 + 30
    # AWS's timings replace the health checks and draining, not prod's canary
    assert waits["prod"].rollout == 5 * 30 + 300 + 30 + (15 + 5) * 60
    assert release_total(list(waits.values())) == 70 + 480 + 480 + 1200 + 600


def test_each_strategy_counts_its_phases(tmp_path: Path) -> None:
    project = load_project(EXAMPLE)
    [prod] = [e for e in project.environments if e.name == "prod"]
    canary = project.rollout(prod, "web")
    assert shifting_seconds(canary) == (15 + 5) * 60
    linear = dataclasses.replace(
        canary, strategy="linear", linear_step_percent=25.0, linear_step_bake_minutes=2
    )
    assert shifting_seconds(linear) == (3 * 2 + 5) * 60  # no wait after the shift to 100 %
    assert shifting_seconds(dataclasses.replace(canary, strategy="blue_green")) == 5 * 60


def test_approval_timeouts_and_windows_are_counted_apart(tmp_path: Path) -> None:
    directory = edited_example(
        tmp_path / "env",
        {
            "staging.yaml": [
                (
                    "requires_approval: true\n",
                    "requires_approval: true\napproval_timeout_minutes: 90\n",
                )
            ],
            "prod.yaml": [
                (
                    "requires_approval: true\n",
                    "requires_approval: true\n"
                    "deploy_window: {cron: 'cron(0 * 9-16 ? * MON-THU *)', "
                    "timezone: Europe/Berlin}\n",
                )
            ],
        },
    )
    waits = {w.environment: w for w in estimate(load_project(directory))}
    assert waits["staging"].approval_timeout == 90 * 60
    assert waits["prod"].approval_timeout == 7 * 24 * 3600
    assert waits["prod"].window == "0 * 9-16 ? * MON-THU * (Europe/Berlin)"
    assert waits["staging"].window is None
    summary = lead_time_summary(load_project(directory)).splitlines()
    assert "  plus 2 approvals, timing out after: staging 1h30m, prod 7 days" in summary
    assert (
        "  prod waits for window 0 * 9-16 ? * MON-THU * (Europe/Berlin) before it starts" in summary
    )


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
