"""A stage's deployment window (window.py, conditions.BeforeEntry) and a manual approval's
TimeoutInMinutes (actions/approval.py), on the interpreter over a pipeline of approvals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from pipelines.local import window
from pipelines.local.execution import Execution, Hooks
from pipelines.local.interpreter import Interpreter
from pipelines.local.rollout import Timing

APPROVAL = {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}
WINDOW = {"category": "Rule", "owner": "AWS", "provider": "DeploymentWindow", "version": "1"}
WEEKDAYS = "0 * 9-16 ? * MON-THU *"


def test_a_window_is_open_in_its_minutes_and_says_when_it_opens_next() -> None:
    cron = window.parse(f"cron({WEEKDAYS})")
    wednesday = datetime(2026, 12, 2, 10, 30, tzinfo=UTC)
    assert cron.matches(wednesday)
    assert not cron.matches(wednesday.replace(hour=17))
    assert cron.next_open(wednesday.replace(hour=17)) == datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    friday = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    assert cron.next_open(friday) == datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # Monday
    # Day-of-week numbers run 1 (SUN) to 7 (SAT); steps and lists.
    assert window.parse("0 0/15 8 ? * 2 *").next_open(friday) == datetime(
        2026, 12, 7, 8, 0, tzinfo=UTC
    )
    assert window.zone("UTC+05:30") == timezone(timedelta(hours=5, minutes=30))
    with pytest.raises(window.Unsupported, match="L, W and #"):
        window.parse("0 0 9 ? * 6#3 *")


def _pipeline(before_entry: dict[str, Any] | None, timeout: int | None) -> dict[str, Any]:
    action: dict[str, Any] = {
        "name": "Approve",
        "actionTypeId": APPROVAL,
        "runOrder": 1,
        "configuration": {"CustomData": "go?"},
    }
    if timeout is not None:
        action["timeoutInMinutes"] = timeout
    stage: dict[str, Any] = {"name": "prod", "actions": [action]}
    if before_entry is not None:
        stage["beforeEntry"] = before_entry
    return {"name": "p", "executionMode": "QUEUED", "stages": [stage]}


class _NoAWS:
    def client(self, service: str, account: str, region: str) -> Any:
        raise AssertionError(f"no AWS call expected ({service})")


def _interpreter(declaration: dict[str, Any], timing: Timing, lines: list[str]) -> Interpreter:
    hooks = Hooks(approve=None, inject_failure=lambda stack: None, echo=lines.append)
    return Interpreter(_NoAWS(), declaration, "1" * 12, "eu-west-1", hooks, timing=timing)


def test_an_approval_nobody_decides_within_its_timeout_fails_its_stage_and_execution() -> None:
    lines: list[str] = []
    # A minute of TimeoutInMinutes takes 0.01 s here; outside tests it takes 60 s (AWS's).
    interpreter = _interpreter(
        _pipeline(None, timeout=5), Timing(approval_seconds_per_minute=0.01), lines
    )
    execution = Execution(1, "exec-1", "sha256:" + "a" * 64)
    interpreter.run([execution])
    assert execution.status == "Failed"
    [record] = interpreter.history.of_execution("exec-1")
    assert record.status == "Failed"
    assert "not decided within its timeout of 5 minutes" in record.summary
    assert interpreter.history.status_in("exec-1", "prod") == "Failed"


def test_a_closed_window_is_waited_for_scaled_and_shown_at_the_stage_entry() -> None:
    lines: list[str] = []
    now = datetime.now(UTC)
    closed = f"0 * {(now.hour + 12) % 24} ? * * *"  # an hour that is not now
    before_entry = {
        "conditions": [
            {
                "result": "FAIL",
                "rules": [
                    {
                        "name": "DeployWindow-prod",
                        "ruleTypeId": WINDOW,
                        "configuration": {"Cron": closed, "TimeZone": "UTC"},
                    }
                ],
            }
        ]
    }
    timing = Timing(bake_seconds_per_minute=0.001, window_wait_cap_seconds=0.2)
    interpreter = _interpreter(_pipeline(before_entry, timeout=None), timing, lines)
    approve_after_entry: list[str] = []

    def approve(execution: Execution, stage: str, action: str, message: str) -> bool:
        state = interpreter.before_entry.state(stage)
        approve_after_entry.append(state.status if state else "none")
        return True

    interpreter.context.hooks.approve = approve
    execution = Execution(1, "exec-1", "sha256:" + "a" * 64)
    interpreter.run([execution])
    assert execution.status == "Succeeded"
    assert approve_after_entry == ["Succeeded"]
    [said] = [line for line in lines if "DeployWindow-prod" in line]
    assert "closed now" in said and "waits for its window" in said and "at most 0.2 s" in said
