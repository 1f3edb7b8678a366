"""Stage conditions: a stage's OnSuccess `CloudWatchAlarm` rules, read against the alarms' state,
and its BeforeEntry `DeploymentWindow` rules, read against the current time (window.py).

The alarm rule's WaitTime is not waited: the alarm's state is read once. (OnFailure's result,
and a failed condition's ROLLBACK, are the interpreter's: they run the stage again.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pipelines.durations import duration
from pipelines.local import window
from pipelines.local.checks import ALARM_RULE_CONFIGURATION
from pipelines.local.clients import ActionClients
from pipelines.local.declaration import Rule, Stage
from pipelines.local.execution import ActionFailed, Execution, Journal, RehearsalError, now
from pipelines.local.rollout import Timing


class OnSuccess:
    """Evaluates stages' OnSuccess conditions, reading alarms as each rule's role."""

    def __init__(self, clients: ActionClients, journal: Journal, region: str) -> None:
        self.clients, self.journal = clients, journal
        self.region = region  # the pipeline's, for a rule that names none

    def failed(self, execution: Execution, stage: Stage) -> Literal["ROLLBACK", "FAIL"] | None:
        """What the first condition with a rule that fails says to do (ROLLBACK or FAIL), or
        None if every rule passes."""
        if stage.on_success is None:
            return None
        for condition in stage.on_success.conditions:
            for rule in condition.rules:
                if self.alarm_rule_passes(execution, stage, rule):
                    continue
                self.journal.say(execution, f"  OnSuccess rule {rule.name} failed")
                return "ROLLBACK" if condition.result == "ROLLBACK" else "FAIL"
        return None

    def alarm_rule_passes(self, execution: Execution, stage: Stage, rule: Rule) -> bool:
        config = rule.configuration
        unknown = set(config) - ALARM_RULE_CONFIGURATION
        if unknown:
            raise RehearsalError(
                f"stage {stage.name}, rule {rule.name}: configuration "
                f"{', '.join(sorted(unknown))} cannot be interpreted"
            )
        region = rule.region if rule.region is not None else self.region
        cloudwatch = self.clients.client("cloudwatch", rule.role_arn, region)
        name = config["AlarmName"]
        alarms = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
        if not alarms:
            raise ActionFailed(f"rule {rule.name}: no alarm {name} in {region}")
        state = alarms[0]["StateValue"]
        failing = {s.strip() for s in config.get("AlarmStates", "ALARM").split(",")}
        wait = config.get("WaitTime", "0")
        self.journal.say(
            execution,
            f"  bake: alarm {name} is {state}; the rule's {wait}-minute wait is not waited in "
            "a rehearsal, the state is read once",
        )
        return state not in failing


@dataclass
class EntryState:
    """A stage's BeforeEntry condition, as GetPipelineState shows it."""

    status: Literal["InProgress", "Succeeded", "Cancelled"]
    summary: str
    updated: datetime = field(default_factory=now)


class BeforeEntry:
    """Evaluates stages' BeforeEntry DeploymentWindow rules against the current time in the
    rule's time zone. An open window lets the execution in; a closed one is said, with when it
    opens, and waited for scaled (`Timing`: the wait's minutes times bake_seconds_per_minute,
    at most window_wait_cap_seconds): the rehearsal does not wait hours for a real window, and
    lets the execution in after that wait."""

    def __init__(self, journal: Journal, timing: Timing) -> None:
        self.journal, self.timing = journal, timing
        self.states: dict[str, EntryState] = {}  # stage name -> its latest entry condition
        self._lock = threading.Lock()

    def state(self, stage: str) -> EntryState | None:
        with self._lock:
            return self.states.get(stage)

    def _set(self, stage: str, state: EntryState) -> None:
        with self._lock:
            self.states[stage] = state

    def wait(self, execution: Execution, stage: Stage, stopping: Callable[[], bool]) -> bool:
        """Wait at the stage's entry as its rules say; False if the execution was stopped
        meanwhile."""
        if stage.before_entry is None:
            return True
        for condition in stage.before_entry.conditions:
            for rule in condition.rules:
                seconds, summary = self._window(rule)
                self.journal.say(execution, f"stage {stage.name}: {summary}")
                self.journal.record(execution, stage.name, "deployment window", summary)
                if seconds <= 0:
                    continue
                self._set(stage.name, EntryState("InProgress", summary))
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    if stopping():
                        self._set(stage.name, EntryState("Cancelled", summary))
                        return False
                    time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        self._set(stage.name, EntryState("Succeeded", "deployment window open"))
        return True

    def _window(self, rule: Rule) -> tuple[float, str]:
        """How long the rehearsal waits for the rule's window (seconds), and what it says."""
        config = rule.configuration
        cap = self.timing.window_wait_cap_seconds
        zone_name = config.get("TimeZone", "UTC")
        what = f"deployment window {rule.name} (cron {config['Cron']}, {zone_name})"
        try:
            cron = window.parse(config["Cron"])
            at = datetime.now(window.zone(zone_name))
        except window.Unsupported as error:
            return cap, (
                f"{what}: not evaluated ({error}); the rehearsal waits {cap:g} s and enters"
            )
        if cron.matches(at):
            return 0.0, f"{what}: open now ({at:%a %H:%M}), enters"
        opens = cron.next_open(at)
        if opens is None:
            return cap, (
                f"{what}: closed now and opens in no minute of the next "
                f"{window.HORIZON_DAYS} days; CodePipeline would wait; the rehearsal waits "
                f"{cap:g} s and enters"
            )
        minutes = (opens - at.replace(second=0, microsecond=0)).total_seconds() / 60
        seconds = min(minutes * self.timing.bake_seconds_per_minute, cap)
        return seconds, (
            f"{what}: closed now ({at:%a %H:%M}), waits for its window: it opens "
            f"{opens:%a %Y-%m-%d %H:%M}, in {duration(int(minutes * 60))}; the rehearsal waits "
            f"{seconds:.1f} s ({self.timing.describe()}, at most {cap:g} s) and enters"
        )
