"""`Deploy/AWS/CloudFormation` actions: CREATE_UPDATE, CHANGE_SET_REPLACE, CHANGE_SET_EXECUTE.

Each acts as the action's role, in its account and region, with pipelines/aws/cloudformation.py
(the change-set functions `pipelines deploy` uses). CREATE_UPDATE is carried out as a change set
created and executed at once, where CodePipeline calls CreateStack/UpdateStack (moto's change
sets are the path patched to behave like CloudFormation's); templates go as TemplateBody
whatever their size. A service stack whose service shifts traffic (blue/green, canary, linear)
deploys in ECS's phases before the action ends (deployment.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from pipelines.aws.cloudformation import (
    ChangeSet,
    change_set_type,
    create_change_set,
    describe,
    execute,
)
from pipelines.aws.errors import OperationError, error_code
from pipelines.local.actions.context import ActionResult, ActionRun, Context
from pipelines.local.actions.deployment import roll_out, service_before
from pipelines.local.artifacts import input_file, parameter_overrides
from pipelines.local.execution import ActionFailed


@dataclass(frozen=True)
class _Target:
    """The stack an action acts on, and the client it acts with."""

    cfn: Any  # CloudFormation, as the action's role
    account: str
    region: str
    stack: str

    def change_set(self, name: str) -> tuple[str, str, str]:
        return (self.account, self.region, f"{self.stack}/{name}")


class CloudFormationActions:
    """Runs CloudFormation actions; remembers the change sets CHANGE_SET_REPLACE found empty
    (CloudFormation keeps a change set with no changes, moto and deploy's functions do not), so
    that their CHANGE_SET_EXECUTE has nothing to execute."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self._empty_change_sets: set[tuple[str, str, str]] = set()  # account, region, stack/name

    def __call__(self, run: ActionRun) -> ActionResult:
        config = run.config
        mode, stack = config["ActionMode"], config["StackName"]
        role = run.action.role_arn
        target = _Target(
            self.context.clients.client("cloudformation", role, run.region),
            _account_of(role) if role else self.context.account,
            run.region,
            stack,
        )
        if mode in ("CREATE_UPDATE", "CHANGE_SET_EXECUTE") and not run.rollback:
            reason = self.context.hooks.inject_failure(stack)
            if reason:
                self.context.record(run, "injected failure", stack)
                raise ActionFailed(f"INJECTED FAILURE ({reason}): {mode} of {stack} not run")
        if mode == "CHANGE_SET_REPLACE":
            return ActionResult(self._create(run, target, mode))
        # ECS's side: a service that shifts traffic deploys in phases once the stack changed.
        # ECS and CloudFormation do this themselves, so the engine reads and rolls back with
        # the account's own clients, not the action's role (which has no reason to read them).
        ecs = self.context.clients.in_account("ecs", target.account, target.region)
        engine_cfn = self.context.clients.in_account(
            "cloudformation", target.account, target.region
        )
        before = service_before(
            cfn=engine_cfn, ecs=ecs, account=target.account, region=target.region, stack=stack
        )
        if mode == "CHANGE_SET_EXECUTE":
            summary = self._execute_named(target, config["ChangeSetName"])
        else:
            summary = self._create(run, target, mode)
        if before is not None:
            rolled_out = roll_out(self.context, run, engine_cfn, ecs, before)
            if rolled_out:
                summary = f"{summary}; {rolled_out}"
        return ActionResult(summary)

    def _create(self, run: ActionRun, target: _Target, mode: str) -> str:
        """CREATE_UPDATE (created and executed) or CHANGE_SET_REPLACE (created only)."""
        config, stack, cfn = run.config, target.stack, target.cfn
        body = input_file(run.execution, run.action, config["TemplatePath"], run.where)
        overrides = parameter_overrides(run.execution, config.get("ParameterOverrides", "{}"))
        live = describe(cfn, stack)
        parameters = _parameters(overrides, live.parameters if live else None, body)
        replace = mode == "CHANGE_SET_REPLACE"
        name = config["ChangeSetName"] if replace else f"pipelines-rehearsal-{run.execution.number}"
        if replace:
            _delete_change_set(cfn, stack, name)
            self._empty_change_sets.discard(target.change_set(name))
        template: dict[str, Any] = {"TemplateBody": body.decode()}
        if "RoleArn" in config:
            template["RoleARN"] = config["RoleArn"]  # the role CloudFormation acts as
        try:
            change_set = create_change_set(
                cfn,
                stack,
                change_set_type(live),
                name,
                template=template,
                parameters=parameters,
                capabilities=tuple(
                    c.strip() for c in config.get("Capabilities", "").split(",") if c.strip()
                ),
                tags=_tags(cfn, stack) if live is not None else {},
                description=f"pipelines rehearse, execution {run.execution.id}",
            )
        except (OperationError, ClientError) as error:
            raise ActionFailed(f"{mode} of {stack}: {error}") from None
        image = overrides.get("ImageUri", "")
        if change_set is None:
            if replace:
                self._empty_change_sets.add(target.change_set(name))
                return f"change set {name} on {stack}: no changes"
            return f"{stack}: no changes"
        if replace:
            return f"change set {name} created on {stack}: {image}"
        return _executed(cfn, change_set, f"{stack} {image}")

    def _execute_named(self, target: _Target, name: str) -> str:
        stack = target.stack
        if target.change_set(name) in self._empty_change_sets:
            self._empty_change_sets.discard(target.change_set(name))
            return f"change set {name} on {stack} had no changes: nothing to execute"
        try:
            described = target.cfn.describe_change_set(StackName=stack, ChangeSetName=name)
        except ClientError as error:
            raise ActionFailed(f"change set {name} on {stack}: {error}") from None
        change_set = ChangeSet(stack, described["StackId"], described["ChangeSetId"], "UPDATE", ())
        return _executed(target.cfn, change_set, f"{stack} change set {name}")


def _parameters(
    overrides: Mapping[str, str], live: Mapping[str, str] | None, body: bytes
) -> list[dict[str, Any]]:
    """The overrides; and on a live stack, its other parameters the template still declares
    keep their value, as in CodePipeline."""
    parameters: list[dict[str, Any]] = [
        {"ParameterKey": k, "ParameterValue": v} for k, v in overrides.items()
    ]
    kept = [k for k in live or () if k not in overrides]
    if kept:  # the template is read only if it has to be
        declared = json.loads(body).get("Parameters", {})
        parameters += [{"ParameterKey": k, "UsePreviousValue": True} for k in kept if k in declared]
    return parameters


def _executed(cfn: Any, change_set: ChangeSet, what: str) -> str:
    outcome = execute(cfn, change_set, lambda stack, event: None)
    if not outcome.ok:
        causes = "; ".join(str(f) for f in outcome.failures) or outcome.status
        raise ActionFailed(f"{what}: {outcome.status}: {causes}")
    return f"{what}: {outcome.status}"


def _delete_change_set(cfn: Any, stack: str, name: str) -> None:
    """Delete the named change set if it exists (moto fails deleting a missing one)."""
    try:
        found = cfn.describe_change_set(StackName=stack, ChangeSetName=name)
    except ClientError as error:
        missing = error_code(error) in ("ChangeSetNotFound", "ChangeSetNotFoundException")
        if missing or "does not exist" in str(error):
            return
        raise
    cfn.delete_change_set(ChangeSetName=found["ChangeSetId"])


def _account_of(arn: str) -> str:
    return arn.split(":")[4]


def _tags(cfn: Any, stack: str) -> dict[str, str]:
    [live] = cfn.describe_stacks(StackName=stack)["Stacks"]
    return {t["Key"]: t["Value"] for t in live.get("Tags", [])}
