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
  the last execution that succeeded in it;
- execution mode QUEUED: one execution per stage at a time, executions in the order of their
  pushes, a later one never entering a stage an earlier one has not left.

Anything else, an action type, an action mode, a configuration key, a rule or a condition
result, stops the rehearsal with an error naming it: nothing is skipped silently.

Where this differs from CodePipeline, knowingly: CREATE_UPDATE is carried out as a change set
created and executed at once (CodePipeline calls CreateStack/UpdateStack; moto's change sets are
the path patched to behave like CloudFormation's); templates go as TemplateBody whatever their
size (CodePipeline uploads them); artifacts stay in memory instead of being copied to the
artifact store of each region; a manual approval is published to its SNS topic and decided at
once, with no 7-day timeout. Runner steps: no ECS task is started (run_task, the task's logs,
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

import time
from collections.abc import Callable, Mapping
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
from pipelines.local.conditions import OnSuccess
from pipelines.local.declaration import Action, Pipeline, Stage, parse_pipeline
from pipelines.local.execution import (
    ActionFailed,
    Event,
    Execution,
    Hooks,
    Journal,
    RehearsalError,
    short_digest,
)

# The names other modules import from here (rehearse.py, steps.py, the tests).
__all__ = [
    "SESSION_NAME",
    "ActionFailed",
    "Event",
    "Execution",
    "Hooks",
    "Interpreter",
    "JobResults",
    "RehearsalError",
    "short_digest",
]

StageOutcome = Literal["succeeded", "failed", "rejected"]


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
    ) -> None:
        """`declaration` is `create_pipeline`'s request shape (resolve.pipeline_declaration);
        it is parsed and checked here, before anything runs. `runners` is runners.json, the
        allow-list runner steps are admitted against; `marker_function` the release marker's
        Lambda function name.

        `client_for(service, role ARN or None, region)`, if given, makes every AWS client the
        interpreter acts with (an action's role, or none for the pipeline's own account) instead
        of the default: `clients` without a role, the role assumed with `clients` with one. The
        IAM-enforced tests pass one that acts as the principals AWS would use."""
        self.pipeline: Pipeline = parse_pipeline(declaration)
        check_pipeline(self.pipeline, runners, marker_function)
        self.region = region
        self.marker_function = marker_function
        self.journal = Journal(hooks.echo)
        acting = ActionClients(clients, account, region, client_for)
        self.context = Context(acting, self.journal, hooks, account, runners)
        self.on_success = OnSuccess(acting, self.journal, region)
        self._categories: dict[Kind, Callable[[ActionRun], ActionResult]] = {
            Kind.ECR_SOURCE: partial(source.ecr_source, self.context),
            Kind.S3_SOURCE: partial(source.s3_source, self.context),
            Kind.CLOUDFORMATION: CloudFormationActions(self.context),
            Kind.APPROVAL: partial(approval.manual_approval, self.context),
            Kind.RELEASE_MARKER: partial(marker.release_marker, self.context),
            Kind.RUNNER: partial(runner.runner_step, self.context),
        }
        self._last_success: dict[str, Execution] = {}  # stage -> its last execution to succeed

    @property
    def events(self) -> list[Event]:
        return self.journal.events

    # Scheduling --------------------------------------------------------------------------------

    def run(self, executions: list[Execution]) -> None:
        """QUEUED: each pass lets every execution, oldest first, take its next stage unless an
        earlier execution has not yet left that stage."""
        while any(e.status == "InProgress" for e in executions):
            moved = False
            for index, execution in enumerate(executions):
                if execution.status != "InProgress":
                    continue
                if any(
                    e.status == "InProgress" and e.next_stage <= execution.next_stage
                    for e in executions[:index]
                ):
                    continue  # waits: an earlier execution still holds or needs this stage
                self._run_stage(execution, self.pipeline.stages[execution.next_stage])
                moved = True
            if not moved:  # cannot happen: the oldest running execution can always move
                raise RehearsalError("QUEUED scheduling made no progress")

    # Stages ------------------------------------------------------------------------------------

    def _run_stage(self, execution: Execution, stage: Stage) -> None:
        name = stage.name
        self.journal.record(execution, name, "entered")
        self.journal.say(execution, f"stage {name}")
        outcome = self._run_actions(execution, stage, rollback=False)
        condition = None  # what a failed OnSuccess condition says to do
        if outcome == "succeeded":
            condition = self.on_success.failed(execution, stage)
            if condition is not None:
                outcome = "failed"
        if outcome == "succeeded":
            self._last_success[name] = execution
            self.journal.record(execution, name, "succeeded")
            self.journal.say(execution, f"stage {name} succeeded")
            execution.next_stage += 1
            if execution.next_stage == len(self.pipeline.stages):
                execution.status = "Succeeded"
            return
        execution.status = "Rejected" if outcome == "rejected" else "Failed"
        execution.stopped_at = name
        on_failure = stage.on_failure.result if stage.on_failure else None
        rollback = condition == "ROLLBACK" or (outcome == "failed" and on_failure == "ROLLBACK")
        self.journal.record(execution, name, outcome)
        self.journal.say(
            execution, f"stage {name} {outcome}: execution {execution.number} stops here"
        )
        if rollback:
            self._roll_back(execution, stage, "ROLLBACK")

    def _run_actions(self, execution: Execution, stage: Stage, rollback: bool) -> StageOutcome:
        for actions in stage.run_orders():
            outcome: StageOutcome = "succeeded"
            for action in actions:
                if rollback and action.type == MANUAL_APPROVAL:
                    self.journal.say(
                        execution,
                        f"  {action.name}: not asked in the rollback (whether CodePipeline "
                        "asks again when it rolls a stage back is unverified)",
                    )
                    continue
                try:
                    result = self._run_action(execution, stage, action, rollback)
                except ActionFailed as failure:
                    self.journal.say(execution, f"  {action.name} FAILED: {failure}")
                    self.journal.record(execution, stage.name, "action failed", action.name)
                    outcome = "failed"
                    continue  # actions of the same run order still run, as in CodePipeline
                if result.rejected and outcome == "succeeded":
                    outcome = "rejected"
            if outcome != "succeeded":
                return outcome
        return "succeeded"

    def _roll_back(self, execution: Execution, stage: Stage, why: str) -> None:
        """Run the stage's actions again with the last execution that succeeded in it."""
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
        result = self._run_actions(previous, stage, rollback=True)
        self.journal.record(execution, name, f"rollback {result}", previous.digest)
        self.journal.say(execution, f"  rollback of stage {name} {result}")

    # Actions -----------------------------------------------------------------------------------

    def _run_action(
        self, execution: Execution, stage: Stage, action: Action, rollback: bool
    ) -> ActionResult:
        where = f"stage {stage.name}, action {action.name}"
        config = {
            k: resolve_variables(execution, v, where) for k, v in action.configuration.items()
        }
        region = action.region if action.region is not None else self.region
        started = time.monotonic()
        run = ActionRun(execution, stage, action, config, region, rollback)
        result = self._categories[kind_of(action, self.marker_function)](run)
        took = time.monotonic() - started
        self.journal.say(execution, f"  {action.name}: {result.summary} ({took:.1f}s)")
        return result
