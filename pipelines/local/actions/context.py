"""What every action category is handed: the action run, and the interpreter's context."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pipelines.invoker.document import RunnersDocument
from pipelines.local.clients import ActionClients
from pipelines.local.declaration import Action, Stage
from pipelines.local.execution import Execution, Hooks, Journal
from pipelines.local.history import ActionExecution, History
from pipelines.local.rollout import Deployments, Timing


@dataclass(frozen=True)
class ActionRun:
    """One action of one execution, about to run."""

    execution: Execution
    stage: Stage
    action: Action
    config: Mapping[str, str]  # the action's configuration, its variables resolved
    region: str  # the action's, or the pipeline's
    rollback: bool = False  # run again by a rollback of its stage
    record: ActionExecution | None = None  # what the API shows of it

    @property
    def where(self) -> str:
        return f"stage {self.stage.name}, action {self.action.name}"


@dataclass(frozen=True)
class ActionResult:
    summary: str  # printed after the action's name
    rejected: bool = False  # a manual approval said no: the execution stops, not failed
    shown: str | None = None  # the API's summary of the action, if not `summary`


@dataclass(frozen=True)
class Context:
    """The interpreter's, the same for each action it runs."""

    clients: ActionClients
    journal: Journal
    hooks: Hooks
    account: str  # the pipeline's
    runners: RunnersDocument | None  # runners.json, the allow-list runner steps are admitted by
    history: History  # the action executions, and the approvals waiting for a result
    timing: Timing = field(default_factory=Timing)  # how bakes, windows, approvals wait
    deployments: Deployments = field(default_factory=Deployments)  # ECS's, for its API

    def record(self, run: ActionRun, what: str, detail: str = "") -> None:
        self.journal.record(run.execution, run.stage.name, what, detail)

    def say(self, run: ActionRun, text: str) -> None:
        self.journal.say(run.execution, text)
