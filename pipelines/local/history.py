"""What CodePipeline remembers of its executions: each action execution, each stage's latest
execution, and the manual approvals waiting for a result.

The interpreter writes it as it runs (threads of their own, hence the lock); the API
(service.py) reads it to answer `get_pipeline_state`, `list_action_executions` and the like, and
decides the approvals through it (`put_approval_result`). An approval waits on a
`threading.Event` until its result is put, or until its execution is stopped with `abandon`.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pipelines.local.declaration import Action
from pipelines.local.execution import Execution, now

ActionStatus = Literal["InProgress", "Abandoned", "Succeeded", "Failed"]
StageStatus = Literal["InProgress", "Stopping", "Stopped", "Succeeded", "Failed", "Cancelled"]


class Abandoned(Exception):
    """The execution was stopped with abandon: the action's result no longer counts."""


class TimedOut(Exception):
    """An approval nobody decided within its timeout."""


class ApprovalError(Exception):
    """put_approval_result for no approval, a wrong token, or one decided already; `code` is
    CodePipeline's exception name for it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class ActionExecution:
    id: str
    execution: Execution
    stage: str
    action: Action
    configuration: Mapping[str, str]  # as resolved for this execution
    region: str
    started: datetime = field(default_factory=now)
    updated: datetime = field(default_factory=now)
    status: ActionStatus = "InProgress"
    summary: str = ""
    output_variables: dict[str, str] = field(default_factory=dict)
    token: str | None = None  # a manual approval's, while it waits
    updated_by: str = ""


@dataclass
class _Decision:
    approved: bool
    summary: str


@dataclass
class _Waiting:
    record: ActionExecution
    event: threading.Event = field(default_factory=threading.Event)
    decision: _Decision | None = None


@dataclass
class StageExecution:
    execution: Execution
    status: StageStatus
    updated: datetime = field(default_factory=now)


class History:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.actions: list[ActionExecution] = []  # oldest first
        self.stages: dict[str, StageExecution] = {}  # stage name -> its latest execution
        # (execution id, stage) -> that execution's status in the stage
        self.stage_results: dict[tuple[str, str], StageStatus] = {}
        self._waiting: dict[str, _Waiting] = {}  # token -> the approval waiting for it
        # Tokens already decided: a second put_approval_result is refused at once, even before
        # the approval's thread has woken up and finished its action.
        self._decided: set[str] = set()

    # Stages ------------------------------------------------------------------------------------

    def stage(self, execution: Execution, stage: str, status: StageStatus) -> None:
        with self._lock:
            self.stages[stage] = StageExecution(execution, status)
            self.stage_results[(execution.id, stage)] = status

    def status_in(self, execution_id: str, stage: str) -> StageStatus | None:
        with self._lock:
            return self.stage_results.get((execution_id, stage))

    # Actions -----------------------------------------------------------------------------------

    def begin(
        self,
        execution: Execution,
        stage: str,
        action: Action,
        configuration: Mapping[str, str],
        region: str,
    ) -> ActionExecution:
        record = ActionExecution(
            str(uuid.uuid4()), execution, stage, action, dict(configuration), region
        )
        with self._lock:
            self.actions.append(record)
        return record

    def end(
        self,
        record: ActionExecution,
        status: ActionStatus,
        summary: str,
        variables: Mapping[str, str] | None = None,
    ) -> None:
        with self._lock:
            if record.status != "InProgress":
                return  # abandoned meanwhile: that stays its result
            record.status, record.summary, record.updated = status, summary, now()
            record.output_variables = dict(variables or {})
            record.token = None

    def latest_action(self, stage: str, action: str) -> ActionExecution | None:
        with self._lock:
            return next(
                (r for r in reversed(self.actions) if r.stage == stage and r.action.name == action),
                None,
            )

    def of_execution(self, execution_id: str) -> list[ActionExecution]:
        with self._lock:
            return [r for r in self.actions if r.execution.id == execution_id]

    # Approvals ---------------------------------------------------------------------------------

    def await_approval(
        self, record: ActionExecution, timeout: float | None = None
    ) -> tuple[bool, str]:
        """Wait for put_approval_result on this approval: (approved, its summary). Raises
        Abandoned if its execution is stopped with abandon first, TimedOut if nobody decided
        within `timeout` seconds."""
        token = str(uuid.uuid4())
        waiting = _Waiting(record)
        with self._lock:
            record.token = token
            self._waiting[token] = waiting
        decided = waiting.event.wait(timeout)
        with self._lock:
            self._waiting.pop(token, None)
            if not decided:
                record.token = None
        if not decided:
            raise TimedOut(f"no result was put for the approval within {timeout:g} s")
        if waiting.decision is None:
            raise Abandoned(f"execution {record.execution.id} was stopped")
        return waiting.decision.approved, waiting.decision.summary

    def decide(
        self, stage: str, action: str, token: str, approved: bool, summary: str, by: str
    ) -> datetime:
        """put_approval_result: the approval `token` was given for is decided."""
        with self._lock:
            waiting = self._waiting.get(token)
            if token in self._decided:
                raise ApprovalError(
                    "ApprovalAlreadyCompletedException",
                    f"the approval {stage}/{action} has already been decided",
                )
            if waiting is None or (waiting.record.stage, waiting.record.action.name) != (
                stage,
                action,
            ):
                latest = next(
                    (
                        r
                        for r in reversed(self.actions)
                        if r.stage == stage and r.action.name == action
                    ),
                    None,
                )
                if latest is not None and latest.status != "InProgress":
                    raise ApprovalError(
                        "ApprovalAlreadyCompletedException",
                        f"the approval {stage}/{action} has already been decided",
                    )
                raise ApprovalError(
                    "InvalidApprovalTokenException",
                    f"the token is not that of the approval pending in {stage}/{action}",
                )
            waiting.decision = _Decision(approved, summary)
            self._decided.add(token)
            waiting.record.updated_by = by
            waiting.event.set()
            return now()

    def abandon(self, execution: Execution) -> None:
        """Stop with abandon: the execution's in-progress actions are abandoned, its approvals
        stop waiting."""
        with self._lock:
            for record in self.actions:
                if record.execution is execution and record.status == "InProgress":
                    record.status, record.updated, record.token = "Abandoned", now(), None
            for waiting in list(self._waiting.values()):
                if waiting.record.execution is execution:
                    waiting.event.set()
