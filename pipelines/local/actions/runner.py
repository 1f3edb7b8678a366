"""Deploy-runner steps: `Invoke/AWS/Lambda` on the app's invoker, `Build/AWS/CodeBuild` on one
of its runner projects.

With its variables resolved, the request is admitted against runners.json as the invoker admits
it (steps.py); for the invoker, the Lambda must exist and the place the task would start in is
checked as far as the invoker checks it before run_task. A built-in CloudFormation job then runs
in this process as the task definition's task role (a CodeBuild job with the toolchain account's
credentials: moto does not create the project, so it has no service role); its
`::pipelines-output::` lines become the action's output variables. Any other job is stood in
for: admitted, not run, with outputs `exitCode=0` and `summary=not run in rehearsal`.

A step with `on_rollback: skip` is admitted and then, in a rollback execution, not run: the
invoker reads the execution's type (GetPipelineExecution's executionType) and reports success
with a summary saying so, and so does this action, with the invoker's summary and outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from pipelines.config.builtin_runners import JOBS
from pipelines.invoker import names
from pipelines.invoker.allowlist import Refused
from pipelines.invoker.document import RunnersDocument
from pipelines.invoker.handler import (
    Admission,
    SkipOnRollback,
    job_variables,
    short_summary,
    skipped_summary,
)
from pipelines.local import steps
from pipelines.local.actions.context import ActionResult, ActionRun, Context
from pipelines.local.artifacts import put_outputs
from pipelines.local.checks import LAMBDA_INVOKE
from pipelines.local.execution import ActionFailed


@dataclass(frozen=True)
class _JobPlace:
    """Where a job runs and as whom."""

    account: str
    region: str
    role: str | None  # the task role; None: the account's own credentials (CodeBuild)
    image: str


@dataclass(frozen=True)
class _InvokerClients:
    """The invoker's clients in a target, as its invoke role (the fields of the invoker's
    TargetClients that `security_group` and `release_revision` use)."""

    ecs: Any
    cloudformation: Any
    logs: None = None


def runner_step(context: Context, run: ActionRun) -> ActionResult:
    """A deploy-runner job: admitted against runners.json with the variables resolved, then
    run in-process if it is a built-in job, or stood in for if it runs a user's image."""
    document = context.runners
    assert document is not None  # checks.check_pipeline
    invoke = run.action.type == LAMBDA_INVOKE
    try:
        if invoke:
            _invoker_deployed(context, run.config["FunctionName"], run.region)
            admission = steps.admit_invoke(document, run.config["UserParameters"])
        else:
            admission = steps.admit_codebuild(document, run.config)
    except Refused as refused:
        context.record(run, "runner refused", refused.reason)
        raise ActionFailed(f"refused: {refused.reason}") from None
    admitted = admission.admitted
    name = f"{admitted.runner}.{admitted.script}"
    if invoke:
        skip = steps.skip_on_rollback(run.config["UserParameters"])
        if skip is not None and _is_rollback(run, skip):
            return _skipped_on_rollback(context, run, name, skip)
        place = ecs_runner(context, document, admission, run.region)
    else:
        image = document.runners[admitted.runner].image
        place = _JobPlace(context.account, run.region, None, image)
    if not steps.runs_in_process(admitted.argv):
        return _stood_in(context, run, name, place.image, admitted.argv)
    return _run_in_process(context, run, admission, place, invoke)


def _is_rollback(run: ActionRun, skip: SkipOnRollback) -> bool:
    """The executionType of the execution the step names, as the invoker asks CodePipeline for
    it: `#{codepipeline.PipelineExecutionId}` resolves to the run's own execution."""
    if skip.execution != run.execution.id:
        raise ActionFailed(
            f"invoker error: the step names execution {skip.execution}, not the one running it "
            f"({run.execution.id})"
        )
    return run.execution.kind == "ROLLBACK"


def _skipped_on_rollback(
    context: Context, run: ActionRun, name: str, skip: SkipOnRollback
) -> ActionResult:
    context.record(run, "runner skipped on rollback", name)
    put_outputs(
        run.execution,
        run.action,
        {"summary": short_summary(f"{name}: skipped on a stage rollback"), "skipped": "rollback"},
    )
    return ActionResult(skipped_summary(name, skip.execution))


def _stood_in(
    context: Context, run: ActionRun, name: str, image: str, argv: tuple[str, ...]
) -> ActionResult:
    context.record(run, "runner stood in", name)
    put_outputs(run.execution, run.action, {"exitCode": "0", "summary": steps.STOOD_IN_SUMMARY})
    if run.action.namespace is not None:
        run.execution.stood_in[run.action.namespace] = name
    return ActionResult(
        f"stood in: {name} (image {image}) not run; the rehearsal checked it against the "
        f"allow-list ({steps.not_run_because(argv)})"
    )


def _run_in_process(
    context: Context, run: ActionRun, admission: Admission, place: _JobPlace, invoke: bool
) -> ActionResult:
    admitted = admission.admitted
    name = f"{admitted.runner}.{admitted.script}"
    role = place.role
    as_who = f"as {role.rpartition('/')[2]}" if role else "with the account's credentials"
    context.say(
        run,
        f"  {run.action.name}: running the built-in job in-process, in {place.account} "
        f"{place.region} {as_who}: {' '.join(admitted.argv[len(JOBS) :])}",
    )

    def client(service: str) -> Any:
        if role:
            return context.clients.client(service, role, place.region)
        return context.clients.in_account(service, place.account, place.region)

    variables = {
        names.RUNNER_VARIABLE: admitted.runner,
        names.SCRIPT_VARIABLE: admitted.script,
        names.ENVIRONMENT_VARIABLE: admission.environment or "",
    }
    execution = run.execution
    artifacts = {
        n: execution.artifacts[n] for n in run.action.input_artifacts if n in execution.artifacts
    }
    job = steps.run_job(admitted.argv, client=client, variables=variables, artifacts=artifacts)
    for line in job.lines:
        context.journal.tell(f"      | {line}")
    if job.exit_code != 0:
        context.record(run, "runner failed", name)
        last = " / ".join(line.strip() for line in job.lines[-5:] if line.strip())
        raise ActionFailed(f"{name} failed: exit code {job.exit_code}: {last}")
    context.record(run, "runner ran", name)
    if run.action.namespace is not None:
        execution.stood_in.pop(run.action.namespace, None)
    outputs = job.outputs
    if invoke:  # as the invoker sets them
        outputs = job_variables(
            outputs, logs="(the rehearsal printed the job's output)", task="rehearsal"
        )
    else:
        outputs["exitCode"] = "0"
    put_outputs(execution, run.action, outputs)
    summary = outputs.get("summary", f"{name} finished")
    return ActionResult(f"ran {name}: exit 0, summary: {summary}")


def _invoker_deployed(context: Context, function: str, region: str) -> None:
    """The invoker Lambda the action calls exists (the runner stack deployed it)."""
    lambda_ = context.clients.client("lambda", None, region)
    try:
        lambda_.get_function(FunctionName=function)
    except ClientError as error:
        raise ActionFailed(
            f"Lambda {function} in {context.account} {region}: {error}; is the runner stack "
            "deployed?"
        ) from None


def ecs_runner(
    context: Context, document: RunnersDocument, admission: Admission, region: str
) -> _JobPlace:
    """Where the invoker would start the task, checked as far as the invoker checks it
    before run_task: the target's runner stack (its SecurityGroup output), the runner's
    task definition (a revision of the release image for a release runner, registered as
    the invoker registers it). The job acts as the task definition's task role."""
    from pipelines.invoker.tasks import InvokerError, Place, release_revision, security_group

    admitted = admission.admitted
    target_name = admission.target
    if target_name is not None:
        target = document.targets[target_name]
        account, where, role = target.account, target.region, target.role
        ecs = context.clients.client("ecs", role, where)
        clients = _InvokerClients(
            ecs=ecs, cloudformation=context.clients.client("cloudformation", role, where)
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
        account, where = context.account, document.region or region
        ecs = context.clients.client("ecs", None, where)
    family = document.task_definition(admitted.runner, target_name)
    try:
        if admission.image is not None:
            family = release_revision(ecs, family, admission.image)
        described = ecs.describe_task_definition(taskDefinition=family)
    except (ClientError, InvokerError) as error:
        raise ActionFailed(
            f"task definition {family} in {account} {where}: {error}; is the runner stack deployed?"
        ) from None
    definition = described["taskDefinition"]
    job = [
        c for c in definition.get("containerDefinitions", []) if c.get("name") == names.CONTAINER
    ]
    image = job[0]["image"] if job else document.runners[admitted.runner].image
    task_role = definition.get("taskRoleArn")
    if not task_role:
        raise ActionFailed(f"task definition {family} has no task role")
    return _JobPlace(account, where, task_role, image)
