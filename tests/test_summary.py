"""What synth prints after the stacks: the lead-time estimate."""

from __future__ import annotations

from pipelines.config.loader import load_project
from pipelines.summary import lead_time_summary
from tests.support import EXAMPLE, FIXTURES


def test_runner_steps_are_bounded_by_their_runners_max_wait_apart_from_the_total() -> None:
    lines = lead_time_summary(load_project(EXAMPLE)).splitlines()
    # staging migrates, prod plans and migrates; both runners stop a job after 30 minutes.
    assert lines[-1] == (
        "  plus 3 runner steps, at most 1h30m in all "
        "(each is stopped at its runner's max_wait_minutes)"
    )
    assert "  push to prod: 32m50s (with AWS's default timings: 47m10s)" in lines


def test_an_app_without_runner_steps_gets_no_line_for_them() -> None:
    summary = lead_time_summary(load_project(FIXTURES / "valid" / "single-account"))
    assert "runner step" not in summary
    assert summary.splitlines()[-1] == "  plus 1 approval, timing out after 7 days"


def test_each_environment_adds_a_release_marker_bounded_by_its_timeout() -> None:
    lines = lead_time_summary(load_project(EXAMPLE)).splitlines()
    # dev, staging and prod: one marker each, every call stopped after 30 seconds.
    assert (
        "  plus 3 release markers, at most 1m30s in all "
        "(each tags the image its environment runs, stopped after 30s)"
    ) in lines
