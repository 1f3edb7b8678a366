"""The state of a rehearsal's executions, and how it is told: errors, executions, events, hooks.

An `Execution` is one push going through the pipeline (its digest, the variables and artifacts
its actions produced, where it stands); the `Journal` records what happened to it as `Event`s
and prints the timed lines a person reads as it happens; `Hooks` are where the interpreter meets
the world (approvals, injected failures, output).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from pipelines.aws.errors import OperationError

Status = Literal["InProgress", "Succeeded", "Failed", "Rejected"]


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

    @property
    def short(self) -> str:
        return short_digest(self.digest)


@dataclass(frozen=True)
class Event:
    execution: int
    stage: str
    what: str  # entered | succeeded | failed | rejected | rolled back | ...
    detail: str = ""


@dataclass
class Hooks:
    """How the interpreter meets the world: approvals, injected failures, output."""

    approve: Callable[[Execution, str, str, str], bool]  # execution, stage, action, message
    inject_failure: Callable[[str], str | None]  # stack name -> reason, or None
    echo: Callable[[str], None]


class Journal:
    """What happened, as events, and the lines printed as it happens, timed from the start."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self.echo = echo
        self.events: list[Event] = []
        self.started = time.monotonic()

    def record(self, execution: Execution, stage: str, what: str, detail: str = "") -> None:
        self.events.append(Event(execution.number, stage, what, detail))

    def say(self, execution: Execution, text: str) -> None:
        elapsed = time.monotonic() - self.started
        self.echo(f"[{elapsed:6.1f}s] #{execution.number} {execution.short}  {text}")
