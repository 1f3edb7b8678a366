"""Stage conditions: a stage's OnSuccess `CloudWatchAlarm` rules, read against the alarms' state.

The rule's WaitTime is not waited: the alarm's state is read once. (OnFailure's result, and a
failed condition's ROLLBACK, are the interpreter's: they run the stage again.)
"""

from __future__ import annotations

from typing import Literal

from pipelines.local.checks import ALARM_RULE_CONFIGURATION
from pipelines.local.clients import ActionClients
from pipelines.local.declaration import Rule, Stage
from pipelines.local.execution import ActionFailed, Execution, Journal, RehearsalError


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
