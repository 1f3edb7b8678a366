"""What ECS does after CloudFormation changed a service that shifts traffic (blue/green, canary,
linear), as the rehearsal and the sandbox model it (rollout.py holds the phases and the timing).

CloudFormation's update of an `AWS::ECS::Service` waits for ECS's deployment to end: that is
why CloudFormation refuses a canary or linear configuration whose bakes exceed 33 hours, "to
prevent timeout-related rollbacks" of its 36-hour operations
([CanaryConfiguration](https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-ecs-service-canaryconfiguration.html)).
So the phases run inside the CloudFormation action, after moto has changed the service, and the
action ends when they do.

An alarm of the service's `DeploymentConfiguration.Alarms` in ALARM during a phase fails the
deployment; with `Rollback`, ECS returns the service to the task definition it ran before. That
ECS's failed deployment makes CloudFormation's update of the service fail, and so the stack roll
back and the CloudFormation action (and its stage) fail, is what CloudFormation waiting for the
deployment implies; AWS's documentation does not spell it out. The rehearsal models it so: the
stack goes back to its previous template and parameters (a change set of them, as moto has no
stack rollback of a completed update: the stack shows UPDATE_COMPLETE where CloudFormation
shows UPDATE_ROLLBACK_COMPLETE), the service to its previous task definition, and the action
fails with the alarm named.

Only a service that ran a task definition before is phased: a first deployment has no old
revision to shift traffic from, nor one to roll back to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from pipelines.aws.cloudformation import change_set_type, create_change_set, describe, execute
from pipelines.aws.errors import OperationError
from pipelines.local.actions.context import ActionRun, Context
from pipelines.local.execution import ActionFailed, RehearsalError, now
from pipelines.local.rollout import (
    Breach,
    Phase,
    ServiceDeployment,
    alarm_names,
    phases,
    strategy_of,
    watch_phases,
)

SERVICE_TYPE = "AWS::ECS::Service"
TRAFFIC_NOTE = (
    "  (the rehearsal models the strategies' phases, scaled waits and alarm rollback; traffic "
    "shifting itself is not emulated: no load balancer weight changes, no request is served)"
)


@dataclass(frozen=True)
class Before:
    """A service stack as it was before CloudFormation changed it."""

    account: str
    region: str
    stack: str
    cluster: str
    service: str
    task_definition: str
    template: str  # the stack's template body, for its rollback
    parameters: dict[str, str]


def service_before(cfn: Any, ecs: Any, account: str, region: str, stack: str) -> Before | None:
    """The stack's ECS service and what it runs, if the stack exists and has one (its
    ClusterName and ServiceName outputs, as every service stack synth writes)."""
    live = describe(cfn, stack)
    if live is None:
        return None
    cluster, service = live.outputs.get("ClusterName"), live.outputs.get("ServiceName")
    if not cluster or not service:
        return None
    task_definition = _task_definition(ecs, cluster, service)
    if task_definition is None:
        return None
    body = cfn.get_template(StackName=stack)["TemplateBody"]
    template = body if isinstance(body, str) else json.dumps(body)
    return Before(
        account, region, stack, cluster, service, task_definition, template, dict(live.parameters)
    )


def roll_out(context: Context, run: ActionRun, cfn: Any, ecs: Any, before: Before) -> str | None:
    """After the stack's update: the service's deployment, phased as its strategy says. None if
    nothing is phased (a rolling service, or one whose task definition did not change); else
    what happened. Raises ActionFailed if an alarm rolled the deployment back."""
    target = _task_definition(ecs, before.cluster, before.service)
    if target is None or target == before.task_definition:
        return None
    configuration = _deployment_configuration(cfn, before.stack)
    steps = phases(configuration)
    if not steps:
        return None
    [described] = ecs.describe_services(cluster=before.cluster, services=[before.service])[
        "services"
    ]
    deployments = context.deployments
    deployment = deployments.start(
        described["serviceArn"],
        described["clusterArn"],
        before.task_definition,
        target,
        configuration,
    )
    strategy = strategy_of(configuration).lower()
    timing = context.timing
    context.say(
        run,
        f"  {run.action.name}: ECS {strategy} deployment of {before.service}, "
        f"{len(steps)} phase(s), waits scaled ({timing.describe()})",
    )
    if deployments.note_traffic_once():
        context.journal.tell(TRAFFIC_NOTE)
    names, rollback = alarm_names(configuration)
    cloudwatch = context.clients.in_account("cloudwatch", before.account, before.region)

    def firing() -> list[str]:
        return _in_alarm(cloudwatch, names)

    def entered(phase: Phase, seconds: float) -> None:
        deployments.update(deployment, lifecycle_stage=phase.lifecycle_stage, percent=phase.percent)
        context.record(run, "rollout phase", f"{before.service}: {phase}")
        context.say(run, f"    {before.service}: {phase} ({seconds:.1f} s scaled)")

    breach = watch_phases(steps, firing, timing, entered)
    if breach is None:
        deployments.update(
            deployment, status="SUCCESSFUL", lifecycle_stage="CLEAN_UP", finished=now()
        )
        context.record(run, "rollout succeeded", before.service)
        return f"{strategy} deployment of {before.service} completed"
    _failed(context, run, cfn, ecs, before, deployment, breach, rollback)
    raise AssertionError("unreachable")  # _failed raises


def _failed(
    context: Context,
    run: ActionRun,
    cfn: Any,
    ecs: Any,
    before: Before,
    deployment: ServiceDeployment,
    breach: Breach,
    rollback: bool,
) -> None:
    alarms = ", ".join(breach.alarms)
    why = f"alarm {alarms} in ALARM during {breach.phase.label}"
    deployments = context.deployments
    context.record(run, "rollout alarm", f"{before.service}: {why}")
    if not rollback:
        deployments.update(
            deployment, status="STOPPED", reason=why, triggered=breach.alarms, finished=now()
        )
        raise ActionFailed(f"{before.stack}: the ECS deployment of {before.service} failed: {why}")
    deployments.update(
        deployment,
        status="ROLLBACK_IN_PROGRESS",
        reason=why,
        triggered=breach.alarms,
        rollback={
            "reason": why,
            "startedAt": now(),
            "serviceRevisionArn": deployment.source_revision,
        },
    )
    context.say(run, f"    {before.service}: {why}: ECS rolls the deployment back")
    _restore_stack(cfn, before)
    ecs.update_service(
        cluster=before.cluster, service=before.service, taskDefinition=before.task_definition
    )
    deployments.update(
        deployment,
        status="ROLLBACK_SUCCESSFUL",
        percent=0.0,
        lifecycle_stage="CLEAN_UP",
        finished=now(),
    )
    context.record(run, "rollout rolled back", before.service)
    raise ActionFailed(
        f"{before.stack}: UPDATE_ROLLBACK_COMPLETE: ECS rolled the deployment of "
        f"{before.service} back ({why}); the service runs {before.task_definition} again"
    )


def _restore_stack(cfn: Any, before: Before) -> None:
    """The stack's own rollback: its previous template and parameters, as a change set."""
    live = describe(cfn, before.stack)
    parameters = [{"ParameterKey": k, "ParameterValue": v} for k, v in before.parameters.items()]
    try:
        change_set = create_change_set(
            cfn,
            before.stack,
            change_set_type(live),
            f"pipelines-rehearsal-rollback-{now():%H%M%S%f}",
            template={"TemplateBody": before.template},
            parameters=parameters,
            capabilities=("CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"),
            tags=None,
            description="pipelines rehearse: the stack's rollback after ECS rolled back",
        )
    except (OperationError, ClientError) as error:
        raise RehearsalError(f"the rollback of {before.stack}: {error}") from None
    if change_set is not None:
        outcome = execute(cfn, change_set, lambda stack, event: None)
        if not outcome.ok:
            raise RehearsalError(f"the rollback of {before.stack}: {outcome.status}")


def _task_definition(ecs: Any, cluster: str, service: str) -> str | None:
    try:
        found = ecs.describe_services(cluster=cluster, services=[service]).get("services", [])
    except ClientError:
        return None
    return str(found[0]["taskDefinition"]) if found else None


def _deployment_configuration(cfn: Any, stack: str) -> dict[str, Any]:
    """The DeploymentConfiguration of the stack's ECS service, as its deployed template says."""
    body = cfn.get_template(StackName=stack)["TemplateBody"]
    template = json.loads(body) if isinstance(body, str) else body
    services = [r for r in template.get("Resources", {}).values() if r.get("Type") == SERVICE_TYPE]
    if len(services) != 1:
        return {}
    configuration = services[0].get("Properties", {}).get("DeploymentConfiguration", {})
    return dict(configuration) if isinstance(configuration, dict) else {}


def _in_alarm(cloudwatch: Any, names: list[str]) -> list[str]:
    if not names:
        return []
    alarms = cloudwatch.describe_alarms(AlarmNames=names).get("MetricAlarms", [])
    return [a["AlarmName"] for a in alarms if a.get("StateValue") == "ALARM"]
