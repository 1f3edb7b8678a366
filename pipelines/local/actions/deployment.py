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

Lifecycle hooks (`DeploymentConfiguration.LifecycleHooks`) run at their stage: PRE_SCALE_UP,
POST_SCALE_UP and POST_TEST_TRAFFIC_SHIFT before the first traffic phase,
POST_PRODUCTION_TRAFFIC_SHIFT after the last traffic shift, before the final bake. Each is
admitted by the invoker's own code (invoker/hooks.py's hook_steps, then admit_request for each
declared step) with the event ECS would send: the service's ARN, the deployment's target
revision and the hook's HookDetails. A job that runs its own image is stood in for (admitted,
not run), as steps are; one the hook seam fails (`Hooks.inject_failure` with
hook_failure_key), or a refused hook, fails the hook, and ECS rolls the deployment back as for
an alarm. Not modelled: the environment's hook function and its cross-account call to the
invoker, RECONCILE_SERVICE (no deployment here starts with two active revisions), the
invoker's polling (a stood-in job ends at once).

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

    hooks = _lifecycle_hooks(configuration)

    def hooks_at(stages: tuple[str, ...]) -> str | None:
        for stage in stages:
            for details in hooks.get(stage, []):
                deployments.update(deployment, lifecycle_stage=stage)
                failure = _run_hook(
                    context, run, before.stack, described["serviceArn"], deployment, details
                )
                if failure is not None:
                    return f"lifecycle hook at {stage} failed: {failure}"
        return None

    # The final bake (BAKE_TIME) comes after the production traffic shift and its hook.
    shifting, final = steps[:-1], steps[-1:]
    failure = hooks_at(BEFORE_TRAFFIC)
    breach = None if failure else watch_phases(shifting, firing, timing, entered)
    if failure is None and breach is None:
        failure = hooks_at(AFTER_TRAFFIC)
    if failure is None and breach is None:
        breach = watch_phases(final, firing, timing, entered)
    if failure is None and breach is None:
        deployments.update(
            deployment, status="SUCCESSFUL", lifecycle_stage="CLEAN_UP", finished=now()
        )
        context.record(run, "rollout succeeded", before.service)
        return f"{strategy} deployment of {before.service} completed"
    if failure is not None:
        # ECS rolls back on a FAILED hook whatever DeploymentConfiguration.Alarms says.
        _failed(context, run, cfn, ecs, before, deployment, failure, (), True)
    assert breach is not None
    alarms = ", ".join(breach.alarms)
    why = f"alarm {alarms} in ALARM during {breach.phase.label}"
    _failed(context, run, cfn, ecs, before, deployment, why, breach.alarms, rollback)
    raise AssertionError("unreachable")  # _failed raises


# The stages whose hooks the rehearsal runs, around the traffic phases (see the docstring).
BEFORE_TRAFFIC = ("PRE_SCALE_UP", "POST_SCALE_UP", "POST_TEST_TRAFFIC_SHIFT")
AFTER_TRAFFIC = ("POST_PRODUCTION_TRAFFIC_SHIFT",)


def hook_failure_key(stack: str, stage: str) -> str:
    """What `Hooks.inject_failure` is asked for a hook job of a service stack at a stage."""
    return f"{stack}#hook:{stage}"


def _lifecycle_hooks(configuration: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Lifecycle stage -> the HookDetails of each hook configured at it."""
    found: dict[str, list[dict[str, Any]]] = {}
    for hook in configuration.get("LifecycleHooks") or []:
        details = hook.get("HookDetails") or {}
        for stage in hook.get("LifecycleStages") or []:
            found.setdefault(str(stage), []).append(details)
    return found


def _run_hook(
    context: Context,
    run: ActionRun,
    stack: str,
    service_arn: str,
    deployment: ServiceDeployment,
    details: dict[str, Any],
) -> str | None:
    """One hook, as the invoker answers it: each declared step admitted, then stood in for (or
    failed by the hook seam); None if it succeeded, else why it failed."""
    from pipelines.invoker import hooks as invoker_hooks
    from pipelines.invoker.allowlist import Refused
    from pipelines.invoker.handler import admit_request
    from pipelines.local.actions.runner import ecs_runner

    document = context.runners
    if document is None:
        return "runners.json is missing: nothing admits the hook's jobs"
    event = {
        "serviceArn": service_arn,
        "targetServiceRevisionArn": deployment.target_revision,
        "testTrafficWeights": {},
        "productionTrafficWeights": {},
        "hookDetails": details,
    }
    try:
        environment, service, stage, texts = invoker_hooks.hook_steps(
            document.targets, document.app, event
        )
        for text in texts:
            admission = admit_request(document, invoker_hooks.request_of(text, environment))
            name = f"{admission.admitted.runner}.{admission.admitted.script}"
            place = ecs_runner(context, document, admission, document.targets[environment].region)
            injected = context.hooks.inject_failure(hook_failure_key(stack, stage))
            if injected:
                context.record(run, "hook failed", f"{service} {stage}: {name}")
                return f"{name} failed ({injected})"
            context.record(run, "hook stood in", f"{service} {stage}: {name}")
            context.say(
                run,
                f"    {service}: lifecycle hook {stage}: stood in: {name} (image {place.image}) "
                "not run; admitted as the invoker admits it",
            )
    except Refused as refused:
        context.record(run, "hook refused", refused.reason)
        return f"refused: {refused.reason}"
    return None


def _failed(
    context: Context,
    run: ActionRun,
    cfn: Any,
    ecs: Any,
    before: Before,
    deployment: ServiceDeployment,
    why: str,
    triggered: tuple[str, ...],
    rollback: bool,
) -> None:
    deployments = context.deployments
    what = "rollout alarm" if triggered else "rollout hook failed"
    context.record(run, what, f"{before.service}: {why}")
    if not rollback:
        deployments.update(
            deployment, status="STOPPED", reason=why, triggered=triggered, finished=now()
        )
        raise ActionFailed(f"{before.stack}: the ECS deployment of {before.service} failed: {why}")
    deployments.update(
        deployment,
        status="ROLLBACK_IN_PROGRESS",
        reason=why,
        triggered=triggered,
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
