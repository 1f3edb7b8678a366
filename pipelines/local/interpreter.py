"""Runs a synthesized CodePipeline declaration against the embedded AWS, as CodePipeline would.

The declaration is the pipeline stack's own `AWS::CodePipeline::Pipeline`, with its intrinsics
resolved against the deployed stack and turned into the API shape (`pipeline_declaration`): this
module never holds a second description of the pipeline. What it interprets:

- stages in order; in a stage, actions by run order (actions that share a run order run one
  after the other here, in declaration order, where CodePipeline runs them at once);
- the action types `Source/AWS/ECR`, `Source/AWS/S3`, `Deploy/AWS/CloudFormation` (modes
  CREATE_UPDATE, CHANGE_SET_REPLACE, CHANGE_SET_EXECUTE) and `Approval/AWS/Manual`; each
  action acts in the account of its RoleArn (by assuming that role) and in its Region;
- deploy-runner steps (steps.py): `Invoke/AWS/Lambda` on the app's invoker and
  `Build/AWS/CodeBuild` on one of the app's runner projects. With its variables resolved, the
  request is admitted against runners.json as the invoker admits it (`request_from_json`,
  `admit` with the full check, the environment, the release image, ECS), or, for CodeBuild, its
  PIPELINES_ARGV must be exactly what `admit` makes of a runner script; a refusal fails the
  action. For the invoker, the Lambda must exist, the environment's runner stack must have its
  SecurityGroup output and the runner's task definition must exist (a release runner gets the
  invoker's release revision registered). Then a built-in CloudFormation job (`python -m
  pipelines.jobs cloudformation plan|apply`) runs in this process, against the embedded
  AWS, as the task definition's task role in the environment's account and region: its
  `::pipelines-output::` lines become the action's output variables (with `exitCode`, and for
  the invoker `logs` and `task`), a non-zero exit fails the action with its last lines. Any
  other job (a user's image, terraform, an image build) is stood in for: admitted, not run,
  outputs `exitCode=0` and `summary=not run in rehearsal`; a later reference to any other
  output of it stops the rehearsal with an error naming the step;
- the release marker: `Invoke/AWS/Lambda` on the app's marker function (`marker_function`). Its
  own handler (pipelines/release_marker.py) runs in this process, as Lambda would call it for
  CodePipeline's job, against the embedded ECR as the deployed function's role; the job result
  it reports (PutJobSuccessResult or PutJobFailureResult, checked against CodePipeline's API
  shapes) decides the action, so a rehearsal ends with the `deployed-<env>` tags on the digests
  the environments run;
- artifacts by name (a zip's files) and variables (`#{Namespace.Variable}`,
  `#{codepipeline.PipelineExecutionId}`), and `Fn::GetParam` in parameter overrides;
- stage conditions: OnSuccess `CloudWatchAlarm` rules against the alarms' state (the rule's
  WaitTime is not waited), and `ROLLBACK` results and OnFailure, which run the stage again with
  the last execution that succeeded in it; BeforeEntry `DeploymentWindow` rules against the
  current time in the rule's time zone (a closed window is waited for, scaled, then entered);
- a service stack whose ECS service shifts traffic (blue/green, canary, linear): the
  strategy's phases after CloudFormation changed it, bakes scaled, an alarm in ALARM rolling
  it back (actions/deployment.py, rollout.py); traffic itself is not shifted;
- execution mode QUEUED: one execution per stage at a time, executions in the order of their
  pushes, a later one never entering a stage an earlier one has not left.

Anything else, an action type, an action mode, a configuration key, a rule or a condition
result, stops the rehearsal with an error naming it: nothing is skipped silently.

Where this differs from CodePipeline, knowingly: CREATE_UPDATE is carried out as a change set
created and executed at once (CodePipeline calls CreateStack/UpdateStack; moto's change sets are
the path patched to behave like CloudFormation's); templates go as TemplateBody whatever their
size (CodePipeline uploads them); artifacts stay in memory instead of being copied to the
artifact store of each region; a manual approval is published to its SNS topic and decided at
once by the approve hook, or through the API within its TimeoutInMinutes (7 days if none), in
real time. Runner steps: no ECS task is started (run_task, the task's logs,
its timeout and the invoker's continuation polling are not exercised); the job's input
artifacts come from memory through the link the job would download; a CodeBuild job acts with
the toolchain account's credentials (moto does not create CodeBuild projects, so it has no
service role) and its outputs are all its `::pipelines-output::` lines, where CodeBuild
exports only the variables its buildspec names; moto's change sets report no Replacement and
list only the resources that Ref a changed parameter (changesets.py).

The pieces, one job each: declaration.py parses the declaration once into typed data;
checks.py refuses what cannot be interpreted, before anything runs, and says which category
each action is; execution.py holds the executions' state, their events and the timed output;
clients.py makes the clients the actions act with; artifacts.py reads and writes artifacts and
variables; conditions.py evaluates OnSuccess rules; actions/ runs one category of action per
module. This module schedules: executions through stages, actions by run order, rollbacks.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Literal

from pipelines.invoker.document import RunnersDocument
from pipelines.local.actions import approval, marker, runner, source
from pipelines.local.actions.cloudformation import CloudFormationActions
from pipelines.local.actions.context import ActionResult, ActionRun, Context
from pipelines.local.actions.marker import JobResults
from pipelines.local.artifacts import resolve_variables
from pipelines.local.checks import MANUAL_APPROVAL, Kind, check_pipeline, kind_of
from pipelines.local.clients import SESSION_NAME, AccountClients, ActionClients, ClientFor
from pipelines.local.conditions import BeforeEntry, OnSuccess
from pipelines.local.declaration import Action, Pipeline, Stage, parse_pipeline
from pipelines.local.execution import (
    ActionFailed,
    Event,
    Execution,
    Hooks,
    Journal,
    RehearsalError,
    Trigger,
    short_digest,
)
from pipelines.local.history import Abandoned, ActionExecution, History
from pipelines.local.rollout import Timing

# The names other modules import from here (rehearse.py, steps.py, the tests).
__all__ = [
    "SESSION_NAME",
    "ActionFailed",
    "Event",
    "Execution",
    "Hooks",
    "Interpreter",
    "JobResults",
    "NotAllowed",
    "RehearsalError",
    "short_digest",
]

StageOutcome = Literal["succeeded", "failed", "rejected", "stopped"]
ActionOutcome = Literal["succeeded", "failed", "rejected", "abandoned"]
RetryMode = Literal["FAILED_ACTIONS", "ALL_ACTIONS"]


class NotAllowed(Exception):
    """A request the pipeline's state does not allow now; `code` is CodePipeline's exception
    name for it (service.py answers with it)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Interpreter:
    def __init__(
        self,
        clients: AccountClients,
        declaration: Mapping[str, Any],
        account: str,
        region: str,
        hooks: Hooks,
        runners: RunnersDocument | None = None,
        marker_function: str | None = None,
        client_for: ClientFor | None = None,
        timing: Timing | None = None,
    ) -> None:
        """`declaration` is `create_pipeline`'s request shape (resolve.pipeline_declaration);
        it is parsed and checked here, before anything runs. `runners` is runners.json, the
        allow-list runner steps are admitted against; `marker_function` the release marker's
        Lambda function name.

        `client_for(service, role ARN or None, region)`, if given, makes every AWS client the
        interpreter acts with (an action's role, or none for the pipeline's own account) instead
        of the default: `clients` without a role, the role assumed with `clients` with one. The
        IAM-enforced tests pass one that acts as the principals AWS would use. `timing` says how
        bakes, deployment windows and approval timeouts are waited (rollout.Timing)."""
        self.declaration = declaration
        self.pipeline: Pipeline = parse_pipeline(declaration)
        check_pipeline(self.pipeline, runners, marker_function)
        self.account, self.region = account, region
        self.marker_function = marker_function
        self.journal = Journal(hooks.echo)
        self.history = History()
        acting = ActionClients(clients, account, region, client_for)
        self.timing = timing if timing is not None else Timing()
        self.context = Context(
            acting, self.journal, hooks, account, runners, self.history, timing=self.timing
        )
        self.on_success = OnSuccess(acting, self.journal, region)
        self.before_entry = BeforeEntry(self.journal, self.timing)
        self._categories: dict[Kind, Callable[[ActionRun], ActionResult]] = {
            Kind.ECR_SOURCE: partial(source.ecr_source, self.context),
            Kind.S3_SOURCE: partial(source.s3_source, self.context),
            Kind.CLOUDFORMATION: CloudFormationActions(self.context),
            Kind.APPROVAL: partial(approval.manual_approval, self.context),
            Kind.RELEASE_MARKER: partial(marker.release_marker, self.context),
            Kind.RUNNER: partial(runner.runner_step, self.context),
        }
        self._last_success: dict[str, Execution] = {}  # stage -> its last execution to succeed
        # Every execution, in the order they started: QUEUED lets them through in this order.
        self.executions: list[Execution] = []
        # Errors of the interpreter itself (a RehearsalError, a bug) met while running an
        # action: the action failed; whoever drives the interpreter decides what else to do.
        self.errors: list[Exception] = []
        self._changed = threading.Condition()  # an execution moved, started or was stopped
        self._threads: list[threading.Thread] = []
        self._held = False

    @property
    def events(self) -> list[Event]:
        return self.journal.events

    # Starting, stopping, waiting ---------------------------------------------------------------

    def run(self, executions: list[Execution]) -> None:
        """Run these executions to their end, as pushed in this order; the first error of the
        interpreter itself is raised once all have ended."""
        with self.held():
            for execution in executions:
                self.start(execution)
        self.wait()
        if self.errors:
            raise self.errors[0]

    def start(self, execution: Execution) -> None:
        """The execution runs in a thread of its own from now on, behind the earlier ones."""
        with self._changed:
            self.executions.append(execution)
        self._spawn(execution, None)

    def new_execution(self, digest: str, trigger: Trigger, detail: str = "") -> Execution:
        """A standard execution of `digest`, numbered after the others, started."""
        with self._changed:
            number = 1 + sum(1 for e in self.executions if e.kind == "STANDARD")
        execution = Execution(number, str(uuid.uuid4()), digest, trigger=trigger)
        execution.trigger_detail = detail
        self.start(execution)
        return execution

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Executions started meanwhile wait before their first stage until this ends, so that
        a burst of pushes queues in push order before any of them moves."""
        with self._changed:
            self._held = True
        try:
            yield
        finally:
            with self._changed:
                self._held = False
                self._changed.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until no execution is running (or `timeout` seconds); whether none is."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._changed:
                running = [t for t in self._threads if t.is_alive()]
            if not running:
                return True
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            running[0].join(left)

    def execution(self, execution_id: str) -> Execution:
        with self._changed:
            for execution in self.executions:
                if execution.id == execution_id:
                    return execution
        raise NotAllowed(
            "PipelineExecutionNotFoundException",
            f"no execution {execution_id} of pipeline {self.pipeline.name}",
        )

    def stop(self, execution_id: str, abandon: bool, reason: str) -> Execution:
        """stop_pipeline_execution: no new action starts; with `abandon`, the actions in progress
        are abandoned (an approval stops waiting), else they finish first."""
        execution = self.execution(execution_id)
        with self._changed:
            if execution.status != "InProgress":
                raise NotAllowed(
                    "PipelineExecutionNotStoppableException",
                    f"execution {execution_id} is {execution.status}, not InProgress",
                )
            execution.abandon = abandon
            execution.set_status("Stopping", reason)
            self._changed.notify_all()
        if abandon:
            self.history.abandon(execution)
        self.journal.say(execution, f"stopping{' (abandon)' if abandon else ''}: {reason}")
        return execution

    def retry(self, execution_id: str, stage_name: str, mode: RetryMode) -> Execution:
        """retry_stage_execution: the stage the execution failed or stopped in runs again (its
        failed actions, or all of them), and the execution goes on from there."""
        execution = self.execution(execution_id)
        stage = self._stage(stage_name)
        with self._changed:
            if execution.active or execution.stopped_at != stage_name:
                raise NotAllowed(
                    "StageNotRetryableException",
                    f"execution {execution_id} did not fail or stop in stage {stage_name}",
                )
            latest = self.history.stages.get(stage_name)
            if latest is None or latest.execution is not execution:
                raise NotAllowed(
                    "NotLatestPipelineExecutionException",
                    f"execution {execution_id} is not the latest execution of stage {stage_name}",
                )
            execution.stopped_at, execution.abandon = None, False
            execution.set_status("InProgress")
        only = None
        if mode == "FAILED_ACTIONS":
            done = {
                r.action.name
                for r in self.history.of_execution(execution.id)
                if r.stage == stage_name and r.status == "Succeeded"
            }
            only = frozenset(a.name for a in stage.actions if a.name not in done)
        self.journal.say(execution, f"retrying stage {stage_name} ({mode})")
        self._spawn(execution, only)
        return execution

    def roll_back_stage(self, stage_name: str, target_id: str) -> Execution:
        """rollback_stage: a new execution runs the stage again with the image and outputs of
        `target_id`, an earlier execution that succeeded in it."""
        target = self.execution(target_id)
        index = self._stage_index(stage_name)
        if self.history.status_in(target_id, stage_name) != "Succeeded":
            raise NotAllowed(
                "UnableToRollbackStageException",
                f"execution {target_id} did not succeed in stage {stage_name}",
            )
        latest = self.history.stages.get(stage_name)
        if latest is not None and latest.status == "InProgress":
            raise NotAllowed(
                "UnableToRollbackStageException",
                f"stage {stage_name} is running execution {latest.execution.id}",
            )
        rollback = self._rollback_execution(target, index, "ManualRollback", "")
        self.journal.say(rollback, f"rolling stage {stage_name} back to execution {target_id}")
        self.start(rollback)
        return rollback

    def _spawn(self, execution: Execution, only: frozenset[str] | None) -> None:
        thread = threading.Thread(
            target=self._drive,
            args=(execution, only),
            name=f"execution-{execution.id}",
            daemon=True,
        )
        with self._changed:
            self._threads.append(thread)
        thread.start()

    # Scheduling --------------------------------------------------------------------------------

    def _drive(self, execution: Execution, only: frozenset[str] | None) -> None:
        """An execution's thread: its stages in order, each when QUEUED lets it in."""
        try:
            while execution.active:
                if not self._enter(execution):
                    return
                stage = self.pipeline.stages[execution.next_stage]
                self._run_stage(execution, stage, only)
                only = None  # a retry's choice of actions is for its stage only
        except Exception as error:  # a bug: the execution fails, the sandbox goes on
            self.errors.append(error)
            self.journal.say(execution, f"execution failed: {error!r}")
            execution.set_status("Failed", str(error))
        finally:
            with self._changed:
                self._changed.notify_all()

    def _enter(self, execution: Execution) -> bool:
        """Wait until QUEUED lets the execution into its next stage: no earlier execution still
        holds or needs that stage. False if it was stopped meanwhile."""
        with self._changed:
            while True:
                if execution.status == "Stopping":
                    execution.set_status("Stopped")
                    return False
                if not execution.active:
                    return False
                if not self._held and self._may_enter(execution):
                    return True
                self._changed.wait(1.0)

    def _may_enter(self, execution: Execution) -> bool:
        index = execution.next_stage
        for other in self.executions:
            if other is execution:
                return True
            last = other.last_stage if other.last_stage is not None else len(self.pipeline.stages)
            if other.active and other.next_stage <= index <= last:
                return False
        return True

    # Stages ------------------------------------------------------------------------------------

    def _run_stage(self, execution: Execution, stage: Stage, only: frozenset[str] | None) -> None:
        name = stage.name
        # A rollback execution is not held at a window: whether CodePipeline evaluates entry
        # conditions for one is not documented.
        if execution.kind != "ROLLBACK" and not self.before_entry.wait(
            execution, stage, lambda: self._stopping(execution)
        ):
            execution.stopped_at = name
            self.journal.say(execution, f"stopped waiting at the entry of stage {name}")
            execution.set_status("Stopped")
            return
        self.history.stage(execution, name, "InProgress")
        self.journal.record(execution, name, "entered")
        self.journal.say(execution, f"stage {name}")
        rollback = execution.kind == "ROLLBACK"
        outcome = self._run_actions(execution, stage, rollback, only)
        condition = None  # what a failed OnSuccess condition says to do
        if outcome == "succeeded":
            condition = self.on_success.failed(execution, stage)
            if condition is not None:
                outcome = "failed"
        if outcome == "succeeded":
            if not rollback:
                self._last_success[name] = execution
            self.history.stage(execution, name, "Succeeded")
            self.journal.record(execution, name, "succeeded")
            self.journal.say(execution, f"stage {name} succeeded")
            with self._changed:
                execution.next_stage += 1
                last = execution.last_stage
                if execution.next_stage == len(self.pipeline.stages) or (
                    last is not None and execution.next_stage > last
                ):
                    execution.set_status("Succeeded")
                self._changed.notify_all()
            return
        execution.stopped_at = name
        if outcome == "stopped":
            self.history.stage(execution, name, "Stopped")
            self.journal.record(execution, name, "stopped")
            self.journal.say(execution, f"stage {name} stopped: execution {execution.number} stops")
            execution.set_status("Stopped")
            return
        on_failure = stage.on_failure.result if stage.on_failure else None
        roll_back = not rollback and (
            condition == "ROLLBACK" or (outcome == "failed" and on_failure == "ROLLBACK")
        )
        self.history.stage(execution, name, "Failed")
        self.journal.record(execution, name, outcome)
        self.journal.say(
            execution, f"stage {name} {outcome}: execution {execution.number} stops here"
        )
        if roll_back:  # before the status changes: the stage stays held until it is done
            self._roll_back(execution, stage, "ROLLBACK")
        execution.set_status("Rejected" if outcome == "rejected" else "Failed")

    def _run_actions(
        self, execution: Execution, stage: Stage, rollback: bool, only: frozenset[str] | None
    ) -> StageOutcome:
        """The stage's actions by run order; the actions of one run order at once."""
        for group in stage.run_orders():
            actions = [a for a in group if only is None or a.name in only]
            if rollback:
                for action in [a for a in actions if a.type == MANUAL_APPROVAL]:
                    self.journal.say(
                        execution,
                        f"  {action.name}: not asked in the rollback (whether CodePipeline "
                        "asks again when it rolls a stage back is unverified)",
                    )
                actions = [a for a in actions if a.type != MANUAL_APPROVAL]
            if self._stopping(execution):
                return "stopped"
            if len(actions) == 1:
                results = [self._action(execution, stage, actions[0], rollback)]
            else:
                with ThreadPoolExecutor(max_workers=max(1, len(actions))) as pool:
                    results = list(
                        pool.map(lambda a: self._action(execution, stage, a, rollback), actions)
                    )
            if "abandoned" in results or self._stopping(execution):
                return "stopped"
            if "failed" in results:
                return "failed"  # the others of the run order still ran, as in CodePipeline
            if "rejected" in results:
                return "rejected"
        return "succeeded"

    @staticmethod
    def _stopping(execution: Execution) -> bool:
        """Whether stop_pipeline_execution was asked for (another thread sets it)."""
        return execution.status == "Stopping"

    def _roll_back(self, execution: Execution, stage: Stage, why: str) -> None:
        """Run the stage's actions again with the last execution that succeeded in it, as a
        rollback execution of its own (CodePipeline's AutomatedRollback)."""
        name = stage.name
        previous = self._last_success.get(name)
        if previous is None:
            self.journal.say(
                execution,
                f"  {why}: no earlier execution succeeded in stage {name}, so there is nothing "
                "to roll back to (CodePipeline would not roll back either)",
            )
            return
        self.journal.say(
            execution,
            f"  {why}: rolling stage {name} back to execution {previous.number} "
            f"({previous.short}); injected failures do not apply to the rollback",
        )
        index = self._stage_index(name)
        rollback = self._rollback_execution(previous, index, "AutomatedRollback", execution.id)
        with self._changed:
            self.executions.append(rollback)
        self.history.stage(rollback, name, "InProgress")
        result = self._run_actions(rollback, stage, rollback=True, only=None)
        done = result == "succeeded"
        self.history.stage(rollback, name, "Succeeded" if done else "Failed")
        rollback.set_status("Succeeded" if done else "Failed")
        self.journal.record(execution, name, f"rollback {result}", previous.digest)
        self.journal.say(execution, f"  rollback of stage {name} {result}")

    def _rollback_execution(
        self, target: Execution, index: int, trigger: Trigger, detail: str
    ) -> Execution:
        """An execution that runs stage `index` only, with `target`'s image and outputs; it
        carries the target's number in the journal, whose lines name what is deployed."""
        return Execution(
            target.number,
            str(uuid.uuid4()),
            target.digest,
            variables={k: dict(v) for k, v in target.variables.items()},
            artifacts=dict(target.artifacts),
            next_stage=index,
            trigger=trigger,
            trigger_detail=detail,
            rollback_of=target.id,
            last_stage=index,
        )

    def _stage(self, name: str) -> Stage:
        return self.pipeline.stages[self._stage_index(name)]

    def _stage_index(self, name: str) -> int:
        for index, stage in enumerate(self.pipeline.stages):
            if stage.name == name:
                return index
        raise NotAllowed("StageNotFoundException", f"pipeline {self.pipeline.name} has no {name}")

    # Actions -----------------------------------------------------------------------------------

    def _action(
        self, execution: Execution, stage: Stage, action: Action, rollback: bool
    ) -> ActionOutcome:
        """Run one action; what became of it, as the API shows it too."""
        where = f"stage {stage.name}, action {action.name}"
        region = action.region if action.region is not None else self.region
        record: ActionExecution | None = None
        try:
            config = {
                k: resolve_variables(execution, v, where) for k, v in action.configuration.items()
            }
            record = self.history.begin(execution, stage.name, action, config, region)
            result = self._run_action(execution, stage, action, rollback, config, region, record)
        except ActionFailed as failure:
            return self._failed(execution, stage, action, record, str(failure))
        except Abandoned:
            self.journal.say(execution, f"  {action.name}: abandoned")
            return "abandoned"
        except Exception as error:  # the interpreter's own error (RehearsalError), or a bug
            self.errors.append(error)
            return self._failed(execution, stage, action, record, str(error))
        if record.status == "Abandoned":
            return "abandoned"
        variables = execution.variables.get(action.namespace, {}) if action.namespace else {}
        shown = result.summary if result.shown is None else result.shown
        self.history.end(record, "Failed" if result.rejected else "Succeeded", shown, variables)
        return "rejected" if result.rejected else "succeeded"

    def _failed(
        self,
        execution: Execution,
        stage: Stage,
        action: Action,
        record: ActionExecution | None,
        why: str,
    ) -> ActionOutcome:
        self.journal.say(execution, f"  {action.name} FAILED: {why}")
        self.journal.record(execution, stage.name, "action failed", action.name)
        if record is not None:
            self.history.end(record, "Failed", why)
        return "failed"

    def _run_action(
        self,
        execution: Execution,
        stage: Stage,
        action: Action,
        rollback: bool,
        config: dict[str, str],
        region: str,
        record: ActionExecution,
    ) -> ActionResult:
        started = time.monotonic()
        run = ActionRun(execution, stage, action, config, region, rollback, record)
        result = self._categories[kind_of(action, self.marker_function)](run)
        took = time.monotonic() - started
        self.journal.say(execution, f"  {action.name}: {result.summary} ({took:.1f}s)")
        return result
