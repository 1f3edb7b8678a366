"""The state of the executions, and how it is told: errors, executions, events, hooks.

An `Execution` is one run of the pipeline (its digest, the variables and artifacts its actions
produced, where it stands, how it was started); the `Journal` records what happened to it as
`Event`s and prints the timed lines a person reads as it happens; `Hooks` are where the
interpreter meets the world (approvals, injected failures, output).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from pipelines.aws.errors import OperationError

# "Rejected" is the rehearsal's own word for an execution a manual approval stopped; the
# CodePipeline API calls it Failed (service.py).
Status = Literal["InProgress", "Stopping", "Stopped", "Succeeded", "Failed", "Rejected"]
ACTIVE: frozenset[Status] = frozenset({"InProgress", "Stopping"})
# How an execution started, as CodePipeline's `trigger.triggerType` names it.
Trigger = Literal[
    "CloudWatchEvent", "StartPipelineExecution", "AutomatedRollback", "ManualRollback"
]


def now() -> datetime:
    return datetime.now(UTC)


class RehearsalError(OperationError):
    """The declaration holds something the rehearsal cannot interpret, or the rehearsal broke."""


class ActionFailed(Exception):
    """An action failed as it would in CodePipeline: the stage fails, the execution stops."""


def short_digest(digest: str) -> str:
    return digest[: len("sha256:") + 12]


@dataclass
class Execution:
    number: int
    id: str
    digest: str
    variables: dict[str, dict[str, str]] = field(default_factory=dict)  # namespace -> outputs
    artifacts: dict[str, bytes] = field(default_factory=dict)  # artifact name -> zip
    stood_in: dict[str, str] = field(default_factory=dict)  # namespace -> runner step not run
    next_stage: int = 0
    status: Status = "InProgress"
    stopped_at: str | None = None
    trigger: Trigger = "CloudWatchEvent"
    trigger_detail: str = ""
    # A rollback runs one stage again with an earlier execution's image and outputs.
    rollback_of: str | None = None  # the execution it goes back to (rollbackMetadata)
    last_stage: int | None = None  # a rollback's one stage; None: to the end of the pipeline
    started: datetime = field(default_factory=now)
    updated: datetime = field(default_factory=now)
    status_summary: str = ""
    abandon: bool = False  # stop_pipeline_execution(abandon=True): in-progress actions too

    @property
    def short(self) -> str:
        return short_digest(self.digest)

    @property
    def kind(self) -> Literal["STANDARD", "ROLLBACK"]:
        return "ROLLBACK" if self.rollback_of else "STANDARD"

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def set_status(self, status: Status, summary: str = "") -> None:
        self.status, self.updated = status, now()
        if summary:
            self.status_summary = summary


@dataclass(frozen=True)
class Event:
    execution: int
    stage: str
    what: str  # entered | succeeded | failed | rejected | rolled back | ...
    detail: str = ""


Approve = Callable[[Execution, str, str, str], bool]  # execution, stage, action, message


@dataclass
class Hooks:
    """How the interpreter meets the world: approvals, injected failures, output.

    `approve` None: a manual approval waits for its result through the API
    (`put_approval_result`), as in CodePipeline; else the hook decides it at once."""

    approve: Approve | None
    inject_failure: Callable[[str], str | None]  # stack name -> reason, or None
    echo: Callable[[str], None]


class Journal:
    """What happened, as events, and the lines printed as it happens, timed from the start."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self.echo = echo
        self.events: list[Event] = []
        self.started = time.monotonic()
        self._lock = threading.Lock()  # executions and actions run in threads of their own

    def record(self, execution: Execution, stage: str, what: str, detail: str = "") -> None:
        with self._lock:
            self.events.append(Event(execution.number, stage, what, detail))

    def say(self, execution: Execution, text: str) -> None:
        elapsed = time.monotonic() - self.started
        with self._lock:
            self.echo(f"[{elapsed:6.1f}s] #{execution.number} {execution.short}  {text}")

    def tell(self, text: str) -> None:
        """A line of its own, not timed (an approval's message, a job's output)."""
        with self._lock:
            self.echo(text)
