"""What the rehearsal interprets of a declaration, checked before the first push is processed.

The action types, their configuration keys and CloudFormation modes, the stage conditions and
rules the interpreter knows, and which category (`Kind`) each action falls in. Anything else
stops the rehearsal with an error naming it: nothing is skipped silently.
"""

from __future__ import annotations

import enum

from pipelines.invoker.document import RunnersDocument
from pipelines.local import steps
from pipelines.local.declaration import Action, Conditions, Pipeline, Stage, TypeId
from pipelines.local.execution import RehearsalError

ECR_SOURCE = TypeId("Source", "AWS", "ECR", "1")
S3_SOURCE = TypeId("Source", "AWS", "S3", "1")
CLOUDFORMATION = TypeId("Deploy", "AWS", "CloudFormation", "1")
MANUAL_APPROVAL = TypeId("Approval", "AWS", "Manual", "1")
LAMBDA_INVOKE = TypeId("Invoke", "AWS", "Lambda", "1")
CODEBUILD = TypeId("Build", "AWS", "CodeBuild", "1")
RUNNER_ACTIONS = (LAMBDA_INVOKE, CODEBUILD)
KNOWN_CONFIGURATION: dict[TypeId, frozenset[str]] = {
    ECR_SOURCE: frozenset({"RepositoryName", "ImageTag"}),
    S3_SOURCE: frozenset({"S3Bucket", "S3ObjectKey", "PollForSourceChanges"}),
    CLOUDFORMATION: frozenset(
        {
            "ActionMode",
            "StackName",
            "TemplatePath",
            "ParameterOverrides",
            "Capabilities",
            "RoleArn",
            "ChangeSetName",
        }
    ),
    MANUAL_APPROVAL: frozenset({"CustomData", "ExternalEntityLink", "NotificationArn"}),
    LAMBDA_INVOKE: frozenset({"FunctionName", "UserParameters"}),
    CODEBUILD: frozenset({"ProjectName", "PrimarySource", "EnvironmentVariables"}),
}
CLOUDFORMATION_MODES = ("CREATE_UPDATE", "CHANGE_SET_REPLACE", "CHANGE_SET_EXECUTE")
CLOUDWATCH_ALARM_RULE = TypeId("Rule", "AWS", "CloudWatchAlarm", "1")
ALARM_RULE_CONFIGURATION = frozenset({"AlarmName", "AlarmStates", "WaitTime"})
DEPLOYMENT_WINDOW_RULE = TypeId("Rule", "AWS", "DeploymentWindow", "1")
WINDOW_RULE_CONFIGURATION = frozenset({"Cron", "TimeZone"})
CONDITION_RESULTS = ("ROLLBACK", "FAIL")


class Kind(enum.Enum):
    """The categories of action the interpreter runs, one module of actions/ each."""

    ECR_SOURCE = "ECR source"
    S3_SOURCE = "S3 source"
    CLOUDFORMATION = "CloudFormation deploy"
    APPROVAL = "manual approval"
    RELEASE_MARKER = "release marker"
    RUNNER = "runner step"


def kind_of(action: Action, marker_function: str | None) -> Kind:
    """The category of a checked action: the release marker is the Lambda action that calls
    `marker_function`; any other Lambda or CodeBuild action is a runner step."""
    if action.type == ECR_SOURCE:
        return Kind.ECR_SOURCE
    if action.type == S3_SOURCE:
        return Kind.S3_SOURCE
    if action.type == CLOUDFORMATION:
        return Kind.CLOUDFORMATION
    if action.type == MANUAL_APPROVAL:
        return Kind.APPROVAL
    if is_marker(action, marker_function):
        return Kind.RELEASE_MARKER
    if action.type in RUNNER_ACTIONS:
        return Kind.RUNNER
    raise RehearsalError(f"action type {action.type} cannot be interpreted")  # check_pipeline


def is_marker(action: Action, marker_function: str | None) -> bool:
    return (
        action.type == LAMBDA_INVOKE
        and marker_function is not None
        and action.configuration.get("FunctionName") == marker_function
    )


def check_pipeline(
    pipeline: Pipeline, runners: RunnersDocument | None, marker_function: str | None
) -> None:
    """Refuse, before the first push is processed, what cannot be interpreted."""
    if pipeline.execution_mode != "QUEUED":
        raise RehearsalError(
            f"pipeline {pipeline.name}: execution mode {pipeline.execution_mode} is not "
            "interpreted (only QUEUED)"
        )
    for stage in pipeline.stages:
        for action in stage.actions:
            _check_action(stage, action, runners, marker_function)
        for key, block in (("onSuccess", stage.on_success), ("onFailure", stage.on_failure)):
            if block is not None:
                _check_conditions(stage, key, block)
        if stage.before_entry is not None:
            _check_before_entry(stage, stage.before_entry)


def _check_action(
    stage: Stage, action: Action, runners: RunnersDocument | None, marker_function: str | None
) -> None:
    kind, config = action.type, action.configuration
    where = f"stage {stage.name}, action {action.name}"
    if kind not in KNOWN_CONFIGURATION:
        raise RehearsalError(
            f"{where}: action type {kind} (category/owner/provider/version) cannot be "
            "interpreted by the rehearsal; it interprets "
            + ", ".join(str(k) for k in KNOWN_CONFIGURATION)
        )
    unknown = set(config) - KNOWN_CONFIGURATION[kind]
    if unknown:
        raise RehearsalError(
            f"{where}: configuration {', '.join(sorted(unknown))} of {kind} cannot be "
            "interpreted by the rehearsal"
        )
    if is_marker(action, marker_function):
        if "UserParameters" not in config:
            raise RehearsalError(f"{where}: no UserParameters (the marker's request)")
    elif kind in RUNNER_ACTIONS:
        if runners is None:
            raise RehearsalError(
                f"{where}: a runner step ({kind}) needs the allow-list runners.json, which the "
                "rehearsal was not given"
            )
        check = steps.check_invoke_action if kind == LAMBDA_INVOKE else steps.check_codebuild_action
        problem = check(runners, config)
        if problem:
            raise RehearsalError(f"{where}: {problem}")
    mode = config.get("ActionMode")
    if kind == CLOUDFORMATION and mode not in CLOUDFORMATION_MODES:
        raise RehearsalError(
            f"{where}: CloudFormation action mode {mode} cannot be interpreted by the rehearsal "
            f"(it runs {', '.join(CLOUDFORMATION_MODES)})"
        )


def _check_conditions(stage: Stage, key: str, block: Conditions) -> None:
    where = f"stage {stage.name}, {key}"
    if key == "onFailure" and block.result not in (None, *CONDITION_RESULTS):
        raise RehearsalError(f"{where}: result {block.result} cannot be interpreted")
    for condition in block.conditions:
        if condition.result not in CONDITION_RESULTS:
            raise RehearsalError(
                f"{where}: condition result {condition.result} cannot be interpreted"
            )
        for rule in condition.rules:
            if rule.type != CLOUDWATCH_ALARM_RULE:
                raise RehearsalError(
                    f"{where}: rule {rule.name} of type {rule.type} cannot be interpreted by "
                    f"the rehearsal (it evaluates {CLOUDWATCH_ALARM_RULE})"
                )


def _check_before_entry(stage: Stage, block: Conditions) -> None:
    """BeforeEntry: DeploymentWindow rules only, with a FAIL result (the only result an entry
    condition takes)."""
    where = f"stage {stage.name}, beforeEntry"
    for condition in block.conditions:
        if condition.result not in (None, "FAIL"):
            raise RehearsalError(
                f"{where}: condition result {condition.result} cannot be interpreted"
            )
        for rule in condition.rules:
            if rule.type != DEPLOYMENT_WINDOW_RULE:
                raise RehearsalError(
                    f"{where}: rule {rule.name} of type {rule.type} cannot be interpreted by "
                    f"the rehearsal (it evaluates {DEPLOYMENT_WINDOW_RULE})"
                )
            unknown = set(rule.configuration) - WINDOW_RULE_CONFIGURATION
            if unknown or "Cron" not in rule.configuration:
                raise RehearsalError(
                    f"{where}: rule {rule.name}: configuration {sorted(rule.configuration)} "
                    f"cannot be interpreted (it reads {sorted(WINDOW_RULE_CONFIGURATION)})"
                )
