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
"""

from __future__ import annotations

import io
import json
import re
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from pipelines import patterns
from pipelines.aws.cloudformation import (
    ChangeSet,
    Outcome,
    change_set_type,
    create_change_set,
    describe,
    execute,
)
from pipelines.aws.errors import OperationError, error_code
from pipelines.invoker import names

if TYPE_CHECKING:
    from pipelines.invoker.document import RunnersDocument
    from pipelines.invoker.handler import Admission

SESSION_NAME = "pipelines-rehearsal"

ECR_SOURCE = ("Source", "AWS", "ECR", "1")
S3_SOURCE = ("Source", "AWS", "S3", "1")
CLOUDFORMATION = ("Deploy", "AWS", "CloudFormation", "1")
MANUAL_APPROVAL = ("Approval", "AWS", "Manual", "1")
LAMBDA_INVOKE = ("Invoke", "AWS", "Lambda", "1")
CODEBUILD = ("Build", "AWS", "CodeBuild", "1")
RUNNER_ACTIONS = (LAMBDA_INVOKE, CODEBUILD)
KNOWN_CONFIGURATION = {
    ECR_SOURCE: {"RepositoryName", "ImageTag"},
    S3_SOURCE: {"S3Bucket", "S3ObjectKey", "PollForSourceChanges"},
    CLOUDFORMATION: {
        "ActionMode",
        "StackName",
        "TemplatePath",
        "ParameterOverrides",
        "Capabilities",
        "RoleArn",
        "ChangeSetName",
    },
    MANUAL_APPROVAL: {"CustomData", "ExternalEntityLink", "NotificationArn"},
    LAMBDA_INVOKE: {"FunctionName", "UserParameters"},
    CODEBUILD: {"ProjectName", "PrimarySource", "EnvironmentVariables"},
}
CLOUDWATCH_ALARM_RULE = ("Rule", "AWS", "CloudWatchAlarm", "1")


class RehearsalError(OperationError):
    """The declaration holds something the rehearsal cannot interpret, or the rehearsal broke."""


class ActionFailed(Exception):
    """An action failed as it would in CodePipeline: the stage fails, the execution stops."""


@dataclass
class Execution:
    number: int
    id: str
    digest: str
    variables: dict[str, dict[str, str]] = field(default_factory=dict)
    artifacts: dict[str, bytes] = field(default_factory=dict)
    stood_in: dict[str, str] = field(default_factory=dict)  # namespace -> runner step not run
    next_stage: int = 0
    status: str = "InProgress"  # InProgress | Succeeded | Failed | Rejected
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


def short_digest(digest: str) -> str:
    return digest[: len("sha256:") + 12]


@dataclass
class Hooks:
    """How the interpreter meets the world: approvals, injected failures, output."""

    approve: Callable[[Execution, str, str, str], bool]
    inject_failure: Callable[[str], str | None]  # stack name -> reason, or None
    echo: Callable[[str], None]


class Interpreter:
    def __init__(
        self,
        clients: Any,
        declaration: dict[str, Any],
        account: str,
        region: str,
        hooks: Hooks,
        runners: RunnersDocument | None = None,
        marker_function: str | None = None,
        client_for: Callable[[str, str | None, str], Any] | None = None,
    ) -> None:
        """`client_for(service, role ARN or None, region)`, if given, makes every AWS client the
        interpreter acts with (an action's role, or none for the pipeline's own account) instead
        of the default: `clients` without a role, the role assumed with `clients` with one. The
        IAM-enforced tests pass one that acts as the principals AWS would use."""
        if declaration.get("executionMode", "SUPERSEDED") != "QUEUED":
            raise RehearsalError(
                f"pipeline {declaration['name']}: execution mode "
                f"{declaration.get('executionMode', 'SUPERSEDED')} is not interpreted (only QUEUED)"
            )
        self.clients = clients
        self.declaration = declaration
        self.stages: list[dict[str, Any]] = declaration["stages"]
        self.account, self.region = account, region
        self.hooks = hooks
        self.runners = runners  # runners.json, the allow-list runner steps are admitted against
        self.marker_function = marker_function  # the release marker's Lambda function name
        self.client_for = client_for
        self.events: list[Event] = []
        self.started = time.monotonic()
        self._role_sessions: dict[str, boto3.Session] = {}
        self._role_clients: dict[tuple[str, str, str], Any] = {}
        self._empty_change_sets: set[tuple[str, str, str]] = set()
        self._last_success: dict[str, Execution] = {}
        self._rolling_back = False
        self._check_declaration()

    # Checks before anything runs ------------------------------------------------------------

    def _check_declaration(self) -> None:
        """Refuse, before the first push is processed, what cannot be interpreted."""
        for stage in self.stages:
            for action in stage["actions"]:
                kind = _action_type(action)
                where = f"stage {stage['name']}, action {action['name']}"
                if kind not in KNOWN_CONFIGURATION:
                    raise RehearsalError(
                        f"{where}: action type {'/'.join(kind)} (category/owner/provider/"
                        "version) cannot be interpreted by the rehearsal; it interprets "
                        + ", ".join("/".join(k) for k in KNOWN_CONFIGURATION)
                    )
                unknown = set(action.get("configuration", {})) - KNOWN_CONFIGURATION[kind]
                if unknown:
                    raise RehearsalError(
                        f"{where}: configuration {', '.join(sorted(unknown))} of "
                        f"{'/'.join(kind)} cannot be interpreted by the rehearsal"
                    )
                if self._is_marker(action):
                    if "UserParameters" not in action.get("configuration", {}):
                        raise RehearsalError(f"{where}: no UserParameters (the marker's request)")
                elif kind in RUNNER_ACTIONS:
                    self._check_runner_action(where, kind, action.get("configuration", {}))
                mode = action.get("configuration", {}).get("ActionMode")
                if kind == CLOUDFORMATION and mode not in (
                    "CREATE_UPDATE",
                    "CHANGE_SET_REPLACE",
                    "CHANGE_SET_EXECUTE",
                ):
                    raise RehearsalError(
                        f"{where}: CloudFormation action mode {mode} cannot be interpreted by "
                        "the rehearsal (it runs CREATE_UPDATE, CHANGE_SET_REPLACE, "
                        "CHANGE_SET_EXECUTE)"
                    )
            for key in ("onSuccess", "onFailure"):
                if key in stage:
                    self._check_condition_block(stage, key, stage[key])

    def _check_runner_action(
        self, where: str, kind: tuple[str, str, str, str], config: dict[str, str]
    ) -> None:
        from pipelines.local import steps

        if self.runners is None:
            raise RehearsalError(
                f"{where}: a runner step ({'/'.join(kind)}) needs the allow-list runners.json, "
                "which the rehearsal was not given"
            )
        check = steps.check_invoke_action if kind == LAMBDA_INVOKE else steps.check_codebuild_action
        problem = check(self.runners, config)
        if problem:
            raise RehearsalError(f"{where}: {problem}")

    def _check_condition_block(
        self, stage: dict[str, Any], key: str, block: dict[str, Any]
    ) -> None:
        where = f"stage {stage['name']}, {key}"
        if key == "onFailure" and block.get("result") not in (None, "ROLLBACK", "FAIL"):
            raise RehearsalError(f"{where}: result {block.get('result')} cannot be interpreted")
        for condition in block.get("conditions", []):
            if condition.get("result") not in ("ROLLBACK", "FAIL"):
                raise RehearsalError(
                    f"{where}: condition result {condition.get('result')} cannot be interpreted"
                )
            for rule in condition.get("rules", []):
                kind = _rule_type(rule)
                if kind != CLOUDWATCH_ALARM_RULE:
                    raise RehearsalError(
                        f"{where}: rule {rule['name']} of type {'/'.join(kind)} cannot be "
                        "interpreted by the rehearsal (it evaluates Rule/AWS/CloudWatchAlarm/1)"
                    )

    # Scheduling --------------------------------------------------------------------------------

    def run(self, executions: list[Execution]) -> None:
        """QUEUED: each pass lets every execution, oldest first, take its next stage unless an
        earlier execution has not yet left that stage."""
        while any(e.status == "InProgress" for e in executions):
            moved = False
            for index, execution in enumerate(executions):
                if execution.status != "InProgress":
                    continue
                ahead = [
                    e
                    for e in executions[:index]
                    if e.status == "InProgress" and e.next_stage <= execution.next_stage
                ]
                if ahead:
                    continue  # waits: an earlier execution still holds or needs this stage
                self._run_stage(execution, self.stages[execution.next_stage])
                moved = True
            if not moved:  # cannot happen: the oldest running execution can always move
                raise RehearsalError("QUEUED scheduling made no progress")

    # Stages ------------------------------------------------------------------------------------

    def _run_stage(self, execution: Execution, stage: dict[str, Any]) -> None:
        name = stage["name"]
        self._record(execution, name, "entered")
        self._say(execution, f"stage {name}")
        result = self._run_actions(execution, stage, rollback=False)
        if result == "succeeded":
            result = self._on_success(execution, stage)
        if result == "succeeded":
            self._last_success[name] = execution
            self._record(execution, name, "succeeded")
            self._say(execution, f"stage {name} succeeded")
            execution.next_stage += 1
            if execution.next_stage == len(self.stages):
                execution.status = "Succeeded"
            return
        execution.status = "Rejected" if result == "rejected" else "Failed"
        execution.stopped_at = name
        rollback = result == "failed, rollback" or (
            result == "failed" and stage.get("onFailure", {}).get("result") == "ROLLBACK"
        )
        result = result.split(",")[0]
        self._record(execution, name, result)
        self._say(execution, f"stage {name} {result}: execution {execution.number} stops here")
        if rollback:
            self._roll_back(execution, stage, "ROLLBACK")

    def _run_actions(self, execution: Execution, stage: dict[str, Any], rollback: bool) -> str:
        orders = sorted({a.get("runOrder", 1) for a in stage["actions"]})
        for order in orders:
            outcome = "succeeded"
            for action in [a for a in stage["actions"] if a.get("runOrder", 1) == order]:
                if rollback and _action_type(action) == MANUAL_APPROVAL:
                    self._say(
                        execution,
                        f"  {action['name']}: not asked in the rollback (whether CodePipeline "
                        "asks again when it rolls a stage back is unverified)",
                    )
                    continue
                try:
                    result = self._run_action(execution, stage, action, rollback)
                except ActionFailed as failure:
                    self._say(execution, f"  {action['name']} FAILED: {failure}")
                    self._record(execution, stage["name"], "action failed", action["name"])
                    outcome = "failed"
                    continue  # actions of the same run order still run, as in CodePipeline
                if result == "rejected":
                    outcome = "rejected" if outcome == "succeeded" else outcome
            if outcome != "succeeded":
                return outcome
        return "succeeded"

    def _on_success(self, execution: Execution, stage: dict[str, Any]) -> str:
        block = stage.get("onSuccess")
        if not block:
            return "succeeded"
        for condition in block.get("conditions", []):
            for rule in condition.get("rules", []):
                if self._alarm_rule_passes(execution, stage, rule):
                    continue
                self._say(execution, f"  OnSuccess rule {rule['name']} failed")
                return "failed, rollback" if condition["result"] == "ROLLBACK" else "failed"
        return "succeeded"

    def _alarm_rule_passes(
        self, execution: Execution, stage: dict[str, Any], rule: dict[str, Any]
    ) -> bool:
        config = rule.get("configuration", {})
        unknown = set(config) - {"AlarmName", "AlarmStates", "WaitTime"}
        if unknown:
            raise RehearsalError(
                f"stage {stage['name']}, rule {rule['name']}: configuration "
                f"{', '.join(sorted(unknown))} cannot be interpreted"
            )
        region = rule.get("region", self.region)
        cloudwatch = self._client("cloudwatch", rule.get("roleArn"), region)
        name = config["AlarmName"]
        alarms = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
        if not alarms:
            raise ActionFailed(f"rule {rule['name']}: no alarm {name} in {region}")
        state = alarms[0]["StateValue"]
        failing = {s.strip() for s in config.get("AlarmStates", "ALARM").split(",")}
        wait = config.get("WaitTime", "0")
        self._say(
            execution,
            f"  bake: alarm {name} is {state}; the rule's {wait}-minute wait is not waited in "
            "a rehearsal, the state is read once",
        )
        return state not in failing

    def _roll_back(self, execution: Execution, stage: dict[str, Any], why: str) -> None:
        name = stage["name"]
        previous = self._last_success.get(name)
        if previous is None:
            self._say(
                execution,
                f"  {why}: no earlier execution succeeded in stage {name}, so there is nothing "
                "to roll back to (CodePipeline would not roll back either)",
            )
            return
        self._say(
            execution,
            f"  {why}: rolling stage {name} back to execution {previous.number} "
            f"({previous.short}); injected failures do not apply to the rollback",
        )
        self._rolling_back = True
        try:
            result = self._run_actions(previous, stage, rollback=True)
        finally:
            self._rolling_back = False
        self._record(execution, name, f"rollback {result}", previous.digest)
        self._say(execution, f"  rollback of stage {name} {result}")

    # Actions -----------------------------------------------------------------------------------

    def _run_action(
        self, execution: Execution, stage: dict[str, Any], action: dict[str, Any], rollback: bool
    ) -> str:
        kind = _action_type(action)
        config = {
            k: self._variables(execution, v, stage, action)
            for k, v in action.get("configuration", {}).items()
        }
        region = action.get("region", self.region)
        started = time.monotonic()
        if kind == ECR_SOURCE:
            result = self._ecr_source(execution, action, config, region)
        elif kind == S3_SOURCE:
            result = self._s3_source(execution, action, config, region)
        elif kind == CLOUDFORMATION:
            result = self._cloudformation(execution, stage, action, config, region)
        elif kind == MANUAL_APPROVAL:
            result = self._approval(execution, stage, action, config, region)
        elif self._is_marker(action):
            result = self._release_marker(execution, stage, config, region)
        elif kind in RUNNER_ACTIONS:
            result = self._runner_step(execution, stage, action, config, region)
        else:  # _check_declaration refused it already
            raise RehearsalError(f"action type {'/'.join(kind)} cannot be interpreted")
        took = time.monotonic() - started
        self._say(execution, f"  {action['name']}: {result} ({took:.1f}s)")
        return "rejected" if result.startswith("rejected") else "succeeded"

    def _ecr_source(
        self, execution: Execution, action: dict[str, Any], config: dict[str, str], region: str
    ) -> str:
        ecr = self._client("ecr", action.get("roleArn"), region)
        repository = config["RepositoryName"]
        [detail] = ecr.describe_images(
            repositoryName=repository, imageIds=[{"imageDigest": execution.digest}]
        )["imageDetails"]
        registry = f"{detail['registryId']}.dkr.ecr.{region}.amazonaws.com"
        variables = {
            "RegistryId": detail["registryId"],
            "RepositoryName": repository,
            "ImageTag": config.get("ImageTag", "latest"),
            "ImageDigest": execution.digest,
            "ImageURI": f"{registry}/{repository}@{execution.digest}",
        }
        self._output(execution, action, json.dumps(variables).encode(), variables)
        return f"image {repository}@{execution.short}"

    def _s3_source(
        self, execution: Execution, action: dict[str, Any], config: dict[str, str], region: str
    ) -> str:
        s3 = self._client("s3", action.get("roleArn"), region)
        stored = s3.get_object(Bucket=config["S3Bucket"], Key=config["S3ObjectKey"])
        data = stored["Body"].read()
        version = stored.get("VersionId", "null")
        self._output(execution, action, data, {"VersionId": version, "ETag": stored["ETag"]})
        return f"s3://{config['S3Bucket']}/{config['S3ObjectKey']} version {version}"

    def _output(
        self, execution: Execution, action: dict[str, Any], data: bytes, variables: dict[str, str]
    ) -> None:
        for artifact in action.get("outputArtifacts", []):
            execution.artifacts[artifact["name"]] = data
        if "namespace" in action:
            execution.variables[action["namespace"]] = variables

    def _cloudformation(
        self,
        execution: Execution,
        stage: dict[str, Any],
        action: dict[str, Any],
        config: dict[str, str],
        region: str,
    ) -> str:
        mode, stack = config["ActionMode"], config["StackName"]
        role = action.get("roleArn")
        cfn = self._client("cloudformation", role, region)
        account = _account_of(role) if role else self.account
        if mode in ("CREATE_UPDATE", "CHANGE_SET_EXECUTE") and not self._rolling_back:
            reason = self.hooks.inject_failure(stack)
            if reason:
                self._record(execution, stage["name"], "injected failure", stack)
                raise ActionFailed(f"INJECTED FAILURE ({reason}): {mode} of {stack} not run")
        if mode == "CHANGE_SET_EXECUTE":
            return self._execute_named(execution, cfn, account, region, stack, config)
        body = self._artifact_file(execution, config["TemplatePath"], stage, action)
        overrides = self._overrides(execution, config.get("ParameterOverrides", "{}"))
        live = describe(cfn, stack)
        kind = change_set_type(live)
        parameters = [{"ParameterKey": k, "ParameterValue": v} for k, v in overrides.items()]
        if live is not None:  # parameters not overridden keep their value, as in CodePipeline
            parameters += [
                {"ParameterKey": k, "UsePreviousValue": True}
                for k in live.parameters
                if k not in overrides and k in json.loads(body).get("Parameters", {})
            ]
        name = (
            config["ChangeSetName"]
            if mode == "CHANGE_SET_REPLACE"
            else f"pipelines-rehearsal-{execution.number}"
        )
        if mode == "CHANGE_SET_REPLACE":
            self._delete_change_set(cfn, stack, name)
            self._empty_change_sets.discard((account, region, f"{stack}/{name}"))
        extra: dict[str, Any] = {"TemplateBody": body.decode()}
        if "RoleArn" in config:
            extra["RoleARN"] = config["RoleArn"]  # the role CloudFormation acts as
        try:
            change_set = create_change_set(
                cfn,
                stack,
                kind,
                name,
                template=extra,
                parameters=parameters,
                capabilities=tuple(
                    c.strip() for c in config.get("Capabilities", "").split(",") if c.strip()
                ),
                tags=_tags(cfn, stack) if live is not None else {},
                description=f"pipelines rehearse, execution {execution.id}",
            )
        except (OperationError, ClientError) as error:
            raise ActionFailed(f"{mode} of {stack}: {error}") from None
        image = overrides.get("ImageUri", "")
        if change_set is None:
            if mode == "CHANGE_SET_REPLACE":
                self._empty_change_sets.add((account, region, f"{stack}/{name}"))
                return f"change set {name} on {stack}: no changes"
            return f"{stack}: no changes"
        if mode == "CHANGE_SET_REPLACE":
            return f"change set {name} created on {stack}: {image}"
        return self._executed(cfn, change_set, f"{stack} {image}")

    def _execute_named(
        self,
        execution: Execution,
        cfn: Any,
        account: str,
        region: str,
        stack: str,
        config: dict[str, str],
    ) -> str:
        name = config["ChangeSetName"]
        if (account, region, f"{stack}/{name}") in self._empty_change_sets:
            self._empty_change_sets.discard((account, region, f"{stack}/{name}"))
            return f"change set {name} on {stack} had no changes: nothing to execute"
        try:
            described = cfn.describe_change_set(StackName=stack, ChangeSetName=name)
        except ClientError as error:
            raise ActionFailed(f"change set {name} on {stack}: {error}") from None
        change_set = ChangeSet(stack, described["StackId"], described["ChangeSetId"], "UPDATE", ())
        return self._executed(cfn, change_set, f"{stack} change set {name}")

    def _executed(self, cfn: Any, change_set: ChangeSet, what: str) -> str:
        outcome: Outcome = execute(cfn, change_set, lambda stack, event: None)
        if not outcome.ok:
            causes = "; ".join(str(f) for f in outcome.failures) or outcome.status
            raise ActionFailed(f"{what}: {outcome.status}: {causes}")
        return f"{what}: {outcome.status}"

    def _delete_change_set(self, cfn: Any, stack: str, name: str) -> None:
        """Delete the named change set if it exists (moto fails deleting a missing one)."""
        try:
            found = cfn.describe_change_set(StackName=stack, ChangeSetName=name)
        except ClientError as error:
            missing = error_code(error) in ("ChangeSetNotFound", "ChangeSetNotFoundException")
            if missing or "does not exist" in str(error):
                return
            raise
        cfn.delete_change_set(ChangeSetName=found["ChangeSetId"])

    def _approval(
        self,
        execution: Execution,
        stage: dict[str, Any],
        action: dict[str, Any],
        config: dict[str, str],
        region: str,
    ) -> str:
        message = config.get("CustomData", "")
        topic = config.get("NotificationArn")
        if topic:
            sns = self._client("sns", action.get("roleArn"), region)
            sns.publish(TopicArn=topic, Subject="Approval needed", Message=message)
        self.hooks.echo(f"    approval {stage['name']}/{action['name']}: {message}")
        if link := config.get("ExternalEntityLink"):
            self.hooks.echo(f"    link: {link}")
        approved = self.hooks.approve(execution, stage["name"], action["name"], message)
        verdict = "approval " + ("approved" if approved else "rejected")
        self._record(execution, stage["name"], verdict, message)  # the message, as resolved
        return "approved" if approved else "rejected"

    # The release marker ------------------------------------------------------------------------

    def _is_marker(self, action: dict[str, Any]) -> bool:
        return (
            _action_type(action) == LAMBDA_INVOKE
            and self.marker_function is not None
            and action.get("configuration", {}).get("FunctionName") == self.marker_function
        )

    def _release_marker(
        self, execution: Execution, stage: dict[str, Any], config: dict[str, str], region: str
    ) -> str:
        """The marker's own handler, called with CodePipeline's job event, acting on ECR as the
        deployed function's role; the result it reports to CodePipeline decides the action."""
        from pipelines import release_marker

        name = config["FunctionName"]
        try:
            function = self._client("lambda", None, region).get_function(FunctionName=name)
        except ClientError as error:
            raise ActionFailed(
                f"Lambda {name} in {self.account} {region}: {error}; is the pipeline stack "
                "deployed?"
            ) from None
        job = {
            "id": str(uuid.uuid4()),
            "accountId": self.account,
            "data": {"actionConfiguration": {"configuration": dict(config)}},
        }
        results = JobResults(job["id"])
        release_marker.handler(
            {"CodePipeline.job": job},
            None,
            ecr=self._client("ecr", function["Configuration"]["Role"], region),
            codepipeline=results,
        )
        if results.failure is not None:
            self._record(execution, stage["name"], "marker failed", results.failure)
            raise ActionFailed(f"the release marker reported a failure: {results.failure}")
        if results.summary is None:
            raise RehearsalError(f"{name} reported no result for its CodePipeline job")
        self._record(execution, stage["name"], "marked", results.summary)
        return f"tagged {results.summary}"

    # Runner steps ------------------------------------------------------------------------------

    def _runner_step(
        self,
        execution: Execution,
        stage: dict[str, Any],
        action: dict[str, Any],
        config: dict[str, str],
        region: str,
    ) -> str:
        """A deploy-runner job: admitted against runners.json with the variables resolved, then
        run in-process if it is a built-in job, or stood in for if it runs a user's image."""
        from pipelines.invoker.allowlist import Refused
        from pipelines.local import steps

        assert self.runners is not None  # _check_declaration
        kind = _action_type(action)
        try:
            if kind == LAMBDA_INVOKE:
                self._invoker_deployed(config["FunctionName"], region)
                admission = steps.admit_invoke(self.runners, config["UserParameters"])
            else:
                admission = steps.admit_codebuild(self.runners, config)
        except Refused as refused:
            self._record(execution, stage["name"], "runner refused", refused.reason)
            raise ActionFailed(f"refused: {refused.reason}") from None
        admitted = admission.admitted
        name = f"{admitted.runner}.{admitted.script}"
        if kind == LAMBDA_INVOKE:
            account, where, role, image = self._ecs_runner(admission, region)
        else:
            # The CodeBuild project's service role: moto does not create the project, so the
            # job acts with the toolchain account's own credentials.
            account, where, role = self.account, region, None
            image = self.runners.runners[admitted.runner].image
        if not steps.runs_in_process(admitted.argv):
            self._record(execution, stage["name"], "runner stood in", name)
            self._output_variables(
                execution, action, {"exitCode": "0", "summary": steps.STOOD_IN_SUMMARY}
            )
            if "namespace" in action:
                execution.stood_in[action["namespace"]] = name
            return (
                f"stood in: {name} (image {image}) not run; the rehearsal checked it against "
                f"the allow-list ({steps.not_run_because(admitted.argv)})"
            )
        as_who = f"as {role.rpartition('/')[2]}" if role else "with the account's credentials"
        self._say(
            execution,
            f"  {action['name']}: running the built-in job in-process, in {account} {where} "
            f"{as_who}: {' '.join(admitted.argv[len(steps.JOBS) :])}",
        )

        def client(service: str) -> Any:
            if role:
                return self._client(service, role, where)
            return self.clients.client(service, account, where)

        variables = {
            names.RUNNER_VARIABLE: admitted.runner,
            names.SCRIPT_VARIABLE: admitted.script,
            names.ENVIRONMENT_VARIABLE: admission.environment or "",
        }
        inputs = [a["name"] for a in action.get("inputArtifacts", [])]
        artifacts = {n: execution.artifacts[n] for n in inputs if n in execution.artifacts}
        run = steps.run_job(admitted.argv, client=client, variables=variables, artifacts=artifacts)
        for line in run.lines:
            self.hooks.echo(f"      | {line}")
        if run.exit_code != 0:
            self._record(execution, stage["name"], "runner failed", name)
            last = " / ".join(line.strip() for line in run.lines[-5:] if line.strip())
            raise ActionFailed(f"{name} failed: exit code {run.exit_code}: {last}")
        self._record(execution, stage["name"], "runner ran", name)
        execution.stood_in.pop(action.get("namespace", ""), None)
        outputs = run.outputs
        if kind == LAMBDA_INVOKE:  # as the invoker sets them
            from pipelines.invoker.handler import job_variables

            outputs = job_variables(
                outputs, logs="(the rehearsal printed the job's output)", task="rehearsal"
            )
        else:
            outputs["exitCode"] = "0"
        self._output_variables(execution, action, outputs)
        summary = outputs.get("summary", f"{name} finished")
        return f"ran {name}: exit 0, summary: {summary}"

    def _invoker_deployed(self, function: str, region: str) -> None:
        """The invoker Lambda the action calls exists (the runner stack deployed it)."""
        lambda_ = self._client("lambda", None, region)
        try:
            lambda_.get_function(FunctionName=function)
        except ClientError as error:
            raise ActionFailed(
                f"Lambda {function} in {self.account} {region}: {error}; is the runner stack "
                "deployed?"
            ) from None

    def _ecs_runner(self, admission: Admission, region: str) -> tuple[str, str, str, str]:
        """Where the invoker would start the task, checked as far as the invoker checks it
        before run_task: the target's runner stack (its SecurityGroup output), the runner's
        task definition (a revision of the release image for a release runner, registered as
        the invoker registers it). Returns the account, the region, the task role the job
        acts as, and the image."""
        from pipelines.invoker.tasks import InvokerError, Place, release_revision, security_group

        assert self.runners is not None
        document = self.runners
        admitted = admission.admitted
        target_name = admission.target
        if target_name is not None:
            target = document.targets[target_name]
            account, where, role = target.account, target.region, target.role
            ecs = self._client("ecs", role, where)
            # The invoker's clients in the target, as its invoke role (TargetClients' fields).
            clients = SimpleNamespace(
                ecs=ecs, logs=None, cloudformation=self._client("cloudformation", role, where)
            )
            place = Place(
                clients=clients,
                cluster=target.cluster,
                log_group=target.log_group,
                region=where,
                target=target_name,
            )
            try:
                security_group(place, target.stack)
            except InvokerError as error:
                raise ActionFailed(f"invoker error: {error}") from None
        else:
            if document.network is None:
                raise ActionFailed("invoker error: runners.json has no network")
            account, where = self.account, document.region or region
            ecs = self._client("ecs", None, where)
        family = document.task_definition(admitted.runner, target_name)
        try:
            if admission.image is not None:
                family = release_revision(ecs, family, admission.image)
            described = ecs.describe_task_definition(taskDefinition=family)
        except (ClientError, InvokerError) as error:
            raise ActionFailed(
                f"task definition {family} in {account} {where}: {error}; is the runner stack "
                "deployed?"
            ) from None
        definition = described["taskDefinition"]
        job = [
            c
            for c in definition.get("containerDefinitions", [])
            if c.get("name") == names.CONTAINER
        ]
        image = job[0]["image"] if job else document.runners[admitted.runner].image
        task_role = definition.get("taskRoleArn")
        if not task_role:
            raise ActionFailed(f"task definition {family} has no task role")
        return account, where, task_role, image

    def _output_variables(
        self, execution: Execution, action: dict[str, Any], variables: dict[str, str]
    ) -> None:
        if "namespace" in action:
            execution.variables[action["namespace"]] = variables

    # Artifacts and variables -------------------------------------------------------------------

    def _artifact_file(
        self, execution: Execution, path: str, stage: dict[str, Any], action: dict[str, Any]
    ) -> bytes:
        artifact, _, file = path.partition("::")
        inputs = {a["name"] for a in action.get("inputArtifacts", [])}
        if artifact not in inputs:
            raise RehearsalError(
                f"stage {stage['name']}, action {action['name']}: {path} names artifact "
                f"{artifact}, which is not an input artifact of the action"
            )
        return self._read_artifact(execution, artifact, file)

    def _read_artifact(self, execution: Execution, artifact: str, file: str) -> bytes:
        if artifact not in execution.artifacts:
            raise RehearsalError(f"artifact {artifact} was not produced by any earlier action")
        try:
            with zipfile.ZipFile(io.BytesIO(execution.artifacts[artifact])) as bundle:
                return bundle.read(file)
        except (KeyError, zipfile.BadZipFile) as error:
            raise ActionFailed(f"{artifact}::{file}: {error}") from None

    def _overrides(self, execution: Execution, text: str) -> dict[str, str]:
        overrides = json.loads(text)
        resolved = {}
        for key, value in overrides.items():
            if isinstance(value, dict) and list(value) == ["Fn::GetParam"]:
                artifact, file, name = value["Fn::GetParam"]
                value = json.loads(self._read_artifact(execution, artifact, file))[name]
            elif not isinstance(value, str):
                raise RehearsalError(f"parameter override {key}: {value!r} cannot be interpreted")
            resolved[key] = value
        return resolved

    def _variables(
        self, execution: Execution, value: str, stage: dict[str, Any], action: dict[str, Any]
    ) -> str:
        def replace(match: re.Match[str]) -> str:
            namespace, name = match.groups()
            if namespace == "codepipeline" and name == "PipelineExecutionId":
                return execution.id
            try:
                return execution.variables[namespace][name]
            except KeyError:
                if namespace in execution.stood_in:
                    raise RehearsalError(
                        f"stage {stage['name']}, action {action['name']}: variable "
                        f"#{{{namespace}.{name}}} is an output of {execution.stood_in[namespace]}, "
                        "which the rehearsal stood in for and did not run"
                    ) from None
                raise RehearsalError(
                    f"stage {stage['name']}, action {action['name']}: variable "
                    f"#{{{namespace}.{name}}} is not set by any earlier action"
                ) from None

        return patterns.VARIABLE.sub(replace, value)

    # AWS as the action's role ------------------------------------------------------------------

    def _client(self, service: str, role_arn: str | None, region: str) -> Any:
        """A client of the account the action's role is in, with that role's credentials;
        without a role, the pipeline's own account."""
        if self.client_for is not None:
            return self.client_for(service, role_arn, region)
        if not role_arn:
            return self.clients.client(service, self.account, region)
        key = (role_arn, service, region)
        if key in self._role_clients:
            return self._role_clients[key]
        if role_arn not in self._role_sessions:
            sts = self.clients.client("sts", self.account, self.region)
            credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=SESSION_NAME)[
                "Credentials"
            ]
            self._role_sessions[role_arn] = boto3.Session(
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
            )
        self._role_clients[key] = self._role_sessions[role_arn].client(service, region_name=region)
        return self._role_clients[key]

    # Output ------------------------------------------------------------------------------------

    def _record(self, execution: Execution, stage: str, what: str, detail: str = "") -> None:
        self.events.append(Event(execution.number, stage, what, detail))

    def _say(self, execution: Execution, text: str) -> None:
        elapsed = time.monotonic() - self.started
        self.hooks.echo(f"[{elapsed:6.1f}s] #{execution.number} {execution.short}  {text}")


class JobResults:
    """CodePipeline's end of a Lambda job in the rehearsal: takes the job result the function
    reports, after checking the request against CodePipeline's API shapes (moto does not
    implement PutJobSuccessResult or PutJobFailureResult)."""

    def __init__(self, job_id: str) -> None:
        import botocore.session

        self.job_id = job_id
        self.summary: str | None = None
        self.failure: str | None = None
        self._model = botocore.session.get_session().get_service_model("codepipeline")

    def _check(self, operation: str, params: dict[str, Any]) -> None:
        from botocore.validate import validate_parameters

        validate_parameters(params, self._model.operation_model(operation).input_shape)
        if params["jobId"] != self.job_id:
            raise RehearsalError(f"{operation} for job {params['jobId']}, not {self.job_id}")
        if self.summary is not None or self.failure is not None:
            raise RehearsalError(f"{operation}: the job {self.job_id} has a result already")

    def put_job_success_result(self, **params: Any) -> dict[str, Any]:
        self._check("PutJobSuccessResult", params)
        self.summary = params.get("executionDetails", {}).get("summary", "")
        return {}

    def put_job_failure_result(self, **params: Any) -> dict[str, Any]:
        self._check("PutJobFailureResult", params)
        self.failure = params["failureDetails"]["message"]
        return {}


def _action_type(action: dict[str, Any]) -> tuple[str, str, str, str]:
    t = action["actionTypeId"]
    return (t["category"], t["owner"], t["provider"], t["version"])


def _rule_type(rule: dict[str, Any]) -> tuple[str, str, str, str]:
    t = rule["ruleTypeId"]
    return (t["category"], t["owner"], t["provider"], t.get("version", "1"))


def _account_of(arn: str) -> str:
    return arn.split(":")[4]


def _tags(cfn: Any, stack: str) -> dict[str, str]:
    [live] = cfn.describe_stacks(StackName=stack)["Stacks"]
    return {t["Key"]: t["Value"] for t in live.get("Tags", [])}
