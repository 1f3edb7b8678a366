"""The invoker Lambda: the gatekeeper in front of the runner's ECS tasks.

Two kinds of event reach `handler`:

- A CodePipeline Lambda invoke action (`{"CodePipeline.job": ...}`). Its UserParameters are a
  JSON object `{"runner", "script", "args": [...], "environment", "cpu", "memory",
  "max_wait_minutes", "image"}`, and for a step that must not run again on a stage rollback
  (`on_rollback: skip`) `"skipOnRollback": {"pipeline": NAME, "execution":
  "#{codepipeline.PipelineExecutionId}"}` (see Rollbacks below). The first call admits the
  request and starts the task, and answers
  with a continuation token; each later call (CodePipeline calls again while the token is
  returned) checks the task: still running -> continuation; exit 0 -> success with output
  variables; anything else, or past the max wait (the task is stopped) -> failure naming the
  exit code and the logs; the `summary` variable is cut to names.MAX_SUMMARY characters. A
  refused request fails the action and starts nothing.
- An ECS lifecycle hook, forwarded by an environment's hook function:
  `{"action": "hook", "event": <ECS's hook event>}`, answered with ECS's hook answer (see
  Lifecycle hooks below and hooks.py).
- A direct invocation from `pipelines run`: `{"action": "start", <request>}`,
  `{"action": "status", "task": ARN, "logToken": ..., "environment": ENV}` or
  `{"action": "stop", "task": ARN, "environment": ENV}` (`environment` as in the start, if it
  named one), answered with a JSON object (`ok` false with `refused` or `error` when it is not
  done).

One task per CodePipeline job. CodePipeline invokes the Lambda asynchronously, so the same call
may arrive more than once: Lambda retries an invocation that failed (twice, by default, for up
to six hours) and may deliver an event twice even without an error. A first call never starts a
second task for its job id:

- the task of a job is named by it: `startedBy` is `pipelines-runner/<job id>`, and RunTask's
  `clientToken` (ECS's idempotency token, 64 characters at most) is the job id;
- before starting anything, a first call looks the job's task up (ListTasks on that
  `startedBy`, desired status RUNNING then STOPPED, in the cluster where the job runs) and, if
  there is one, answers with a continuation for it, its deadline counted from the task's
  `createdAt`, instead of registering, signing or running anything;
- two deliveries that both find nothing (a race; or ListTasks not showing a task seconds old)
  both call RunTask with the same token: ECS returns the one task, or refuses the second call
  with a ConflictException naming it (when the parameters differ, e.g. artifact links signed at
  another second), and the call resumes that task.

A call whose job already has its result (an earlier delivery reported it, or the job ended)
learns it when it reports: CodePipeline answers PutJobSuccessResult/PutJobFailureResult with
InvalidJobStateException (or JobNotFoundException). The call then ends quietly, logging an
`already-reported` audit line, instead of failing the Lambda (which Lambda would retry). It
cannot learn it earlier: CodePipeline has no call that tells a Lambda action's job state
(GetJobDetails returns no status), and the invoker keeps no state of its own. So a late
duplicate of a first call starts nothing when its job's task is still listed (it is, while it
runs and for at least an hour after it stopped), since it resumes that task; a refused request
is refused again (admission depends only on the request and runners.json); what remains is a
duplicate arriving after the first delivery reported a failure before starting any task (an
error of AssumeRole, DescribeStacks or RunTask) whose cause has since gone, or more than an hour
after the task stopped and past ECS's memory of the token: that one starts the job's only task,
whose result nobody collects (its audit lines, `started` then `already-reported`, say so).
Keeping the Lambda's maximum event age at an hour (EventInvokeConfig) narrows that window.

Where a job runs: a request whose `environment` has a target in runners.json runs in that
environment's own account, on its `<app>-<env>-runner` stack. The invoker assumes the target's
role (session name `pipelines-invoker`), reads the security group from the stack's
`SecurityGroup` output, and runs the task on the target's cluster, logging to its log group; the
continuation token names the target, so that each later poll or stop assumes the same role. Its
input artifacts go as presigned HTTPS GET links (signed with the job's own artifactCredentials,
SigV4, valid an hour at most), because the environment's task role cannot read the toolchain's
artifact bucket. Any other request runs on the toolchain's runner cluster, in `network`, and
gets `s3://bucket/key` artifact locations. Direct `status` and `stop` take the same
`environment` as the start did.

A runner whose image is `release` (a migration, say) runs the image being promoted: the request
carries `"image": "<release_repository>@sha256:<digest>"` (in a pipeline, from the source
action's ImageDigest variable). The invoker registers a revision of the runner's task
definition that differs only in the `job` container's image (or reuses the latest revision when
it already runs that image), and runs it. Any other runner refuses `image`.

Rollbacks: a stage rollback (RollbackStage, or the stage's automatic rollback) is an execution
of its own that runs the stage's actions again with an earlier execution's image. The job event
does not say which kind of execution called (its `data` holds the action's configuration,
artifacts and credentials), so a step that asks for it carries the execution's ID, which
CodePipeline puts in for `#{codepipeline.PipelineExecutionId}` in any action's configuration
(https://docs.aws.amazon.com/codepipeline/latest/userguide/reference-variables.html). Before
starting anything, the first call reads that execution (GetPipelineExecution): if its
executionType is ROLLBACK, the request is still admitted (a bad one is refused as always), no
task starts, and the action succeeds with a summary saying it was skipped.

Lifecycle hooks: a hook event starts only the steps runners.json declares for the service's
hook at that stage in that environment (`targets.<env>.hooks`), never a request of its own, and
only if its serviceArn is the service in the environment's account and region. The first call
starts the first step exactly as a job of that environment starts (the target's role, its
cluster) and answers IN_PROGRESS, with the step and its task in hookDetails, which ECS hands
back on its next call. Each later call looks at the task: running -> IN_PROGRESS; exit 0 ->
the next declared step, or SUCCEEDED after the last; anything else, or past the runner's max
wait (the task is stopped) -> FAILED, and ECS rolls the deployment back. A call that cannot be
answered (refused, or an error) answers FAILED too. A step's task is named by the deployment's
targetServiceRevisionArn, the stage and the step's index (hooks.hook_job_id) as a job's task is
named by its job id, so a repeated call resumes the task rather than starting another.

AWS calls the invoker makes (boto3), and so the permissions it needs:

- Its own role, in the toolchain account:
  - `sts:AssumeRole` on each target's `role` (runners.json `targets.<env>.role`);
  - `codepipeline:PutJobSuccessResult`, `codepipeline:PutJobFailureResult`;
  - if a step skips rollbacks: `codepipeline:GetPipelineExecution` on the app's pipeline;
  - with a toolchain network (`runner.network`): `ecs:RunTask` on the toolchain runner task
    definition families, `ecs:DescribeTasks` and `ecs:StopTask` on the cluster's tasks,
    `ecs:ListTasks` on `*` with the condition `ecs:cluster` = the cluster's ARN (a first call
    looks up its job's task; ListTasks's resource type is a container instance, which Fargate
    tasks have none of, so the condition is what scopes it),
    `iam:PassRole` on the runner task and execution roles (to ecs-tasks.amazonaws.com),
    `logs:GetLogEvents` on the runner log group and `cloudformation:DescribeStacks` on the
    `<app>-runner` stack (its security group output). Release-image runners never run on the
    toolchain (only environments' runner stacks define them), so no task definition calls.
  - Presigning artifact links is local signing with the job's artifactCredentials: no call,
    no permission of the invoker's.
- Each target's invoke role (`<app>-<env>-runner-invoke`, in the environment's account,
  trusting the invoker's role), scoped to that environment's runner stack:
  - `ecs:RunTask` on the runner task definition families (`<app>-<env>-runner-*`);
  - `ecs:DescribeTasks` and `ecs:StopTask` on the runner cluster's tasks;
  - `ecs:ListTasks` on `*` with the condition `ecs:cluster` = the runner cluster's ARN;
  - `ecs:DescribeTaskDefinition` and `ecs:RegisterTaskDefinition` (no resource-level
    permissions: `*`);
  - `iam:PassRole` on the runner task roles and the execution role, to ecs-tasks.amazonaws.com;
  - `logs:GetLogEvents` on the runner log group's streams;
  - `cloudformation:DescribeStacks` on the runner stack.

boto3 calls: sts.assume_role; cloudformation.describe_stacks; ecs.run_task, ecs.list_tasks,
ecs.describe_tasks, ecs.stop_task, ecs.describe_task_definition,
ecs.register_task_definition; logs.get_log_events; codepipeline.put_job_success_result,
codepipeline.put_job_failure_result, codepipeline.get_pipeline_execution;
s3.generate_presigned_url (local, no request).

The allow-list and settings come from runners.json (see document.py): the PIPELINES_RUNNERS
variable holding it, else the file PIPELINES_RUNNERS_FILE names, else runners.json next to this
module. The Lambda needs only the standard library and boto3.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.invoker import hooks, names
from pipelines.invoker.allowlist import (
    Admitted,
    Refused,
    admit,
    check_environment,
    request_from_json,
)
from pipelines.invoker.document import (
    Network,
    RunnersDocument,
    Target,
    load_document,
    load_document_file,
)
from pipelines.invoker.logs import console_url, read_log_events, read_outputs
from pipelines.invoker.names import SKIP_ON_ROLLBACK
from pipelines.invoker.tasks import (
    Clients,
    InvokerError,
    JobTaskExists,
    Place,
    Started,
    TaskState,
    check_release_image,
    describe_task,
    error_code,
    job_tasks,
    release_revision,
    resume_task,
    security_group,
    start_task,
    stop_task,
)

# Output variables the invoker sets itself; a job cannot print its way over them.
RESERVED_OUTPUTS = frozenset({"exitCode", "logs", "task"})
MAX_JOB_OUTPUTS = 16
SESSION_NAME = "pipelines-invoker"
# Shortest session STS grants: one call of the invoker needs seconds.
SESSION_SECONDS = 900
# How long a presigned artifact link is valid (at most as long as the job's credentials are).
ARTIFACT_LINK_SECONDS = 3600
# CodePipeline's answers to a result for a job that takes none any more: it has its result (an
# earlier delivery of the same call reported it), or it ended.
CLOSED_JOB_ERRORS = frozenset({"InvalidJobStateException", "JobNotFoundException"})


class JobClosed(Exception):
    """CodePipeline takes no result for the job any more; the message is its answer."""


class TargetClients:
    """Clients acting as a target's invoke role, in the target's region, each made on first use
    (a poll needs only ECS). They come from one shared boto3 session, so that the service models
    are loaded once per Lambda container, not once per call."""

    def __init__(self, credentials: Mapping[str, str], region: str) -> None:
        self._credentials = credentials
        self._region = region
        self._made: dict[str, Any] = {}

    def _client(self, service: str) -> Any:
        if service not in self._made:
            self._made[service] = _base_session().client(
                service,
                region_name=self._region,
                aws_access_key_id=self._credentials["AccessKeyId"],
                aws_secret_access_key=self._credentials["SecretAccessKey"],
                aws_session_token=self._credentials["SessionToken"],
            )
        return self._made[service]

    @property
    def ecs(self) -> Any:
        return self._client("ecs")

    @property
    def logs(self) -> Any:
        return self._client("logs")

    @property
    def cloudformation(self) -> Any:
        return self._client("cloudformation")


_sessions: list[Any] = []


def _base_session() -> Any:
    import boto3  # the Lambda runtime provides it; synth never comes here

    if not _sessions:
        _sessions.append(boto3.session.Session())
    return _sessions[0]


def assume_target(target: Target, sts: Any) -> TargetClients:
    """Clients in a target's account: assume its role; the clients use the target's region."""
    try:
        credentials = sts.assume_role(
            RoleArn=target.role, RoleSessionName=SESSION_NAME, DurationSeconds=SESSION_SECONDS
        )["Credentials"]
    except Exception as error:
        raise InvokerError(
            f"cannot assume {target.role}: {error}; deploy the environment's runner stack "
            f"{target.stack} (its invoke role trusts the invoker)"
        ) from None
    return TargetClients(credentials, target.region)


def presign_artifact(credentials: Mapping[str, str], region: str, bucket: str, key: str) -> str:
    """An HTTPS GET link to an artifact, signed (SigV4) with the job's artifact credentials."""
    import boto3
    from botocore.config import Config

    s3 = boto3.client(
        "s3",
        region_name=region or None,
        aws_access_key_id=credentials["accessKeyId"],
        aws_secret_access_key=credentials["secretAccessKey"],
        aws_session_token=credentials.get("sessionToken"),
        config=Config(signature_version="s3v4", s3={"addressing_style": "virtual"}),
    )
    url: str = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=ARTIFACT_LINK_SECONDS
    )
    return url


Presign = Callable[[Mapping[str, str], str, str, str], str]


@dataclass
class Runtime:
    """What a call needs: the document, AWS clients, the region for links, a clock.

    `connect` makes the clients of a target (default: assume_target, with `sts`); `presign`
    makes an artifact link (credentials, region, bucket, key). Tests inject both, or moto.
    """

    document: RunnersDocument
    ecs: Any
    logs: Any
    codepipeline: Any = None
    region: str = ""
    now: Callable[[], float] = field(default=time.time)
    sts: Any = None
    cloudformation: Any = None  # the toolchain's: the runner stack's security group output
    connect: Callable[[Target], Any] | None = None
    presign: Presign = presign_artifact

    @classmethod
    def from_environment(cls) -> Runtime:
        import boto3  # the Lambda runtime provides it; synth never comes here

        document = load_runners()
        session = boto3.session.Session(region_name=document.region)
        return cls(
            document=document,
            ecs=session.client("ecs"),
            logs=session.client("logs"),
            codepipeline=session.client("codepipeline"),
            region=session.region_name or "",
            sts=session.client("sts", region_name=session.region_name),
            cloudformation=session.client("cloudformation"),
        )

    def place(self, target: str | None) -> Place:
        """Where jobs of this target run (None: the toolchain's cluster), with its clients."""
        if target is None:
            return Place(
                clients=Clients(ecs=self.ecs, logs=self.logs, cloudformation=self.cloudformation),
                cluster=self.document.cluster,
                log_group=self.document.log_group,
                region=self.region,
            )
        found = self.document.targets.get(target)
        if found is None:
            raise InvokerError(f"environment {target!r} has no target in runners.json")
        if self.connect is not None:
            clients = self.connect(found)
        else:
            clients = assume_target(found, self.sts)
        return Place(
            clients=clients,
            cluster=found.cluster,
            log_group=found.log_group,
            region=found.region,
            target=target,
        )

    def target_of(self, environment: str | None) -> str | None:
        """The target an admitted environment runs in: itself if runners.json has targets."""
        if environment is not None and environment in self.document.targets:
            return environment
        return None


def load_runners() -> RunnersDocument:
    inline = os.environ.get(names.RUNNERS_VARIABLE)
    if inline:
        return load_document(inline, source=names.RUNNERS_VARIABLE)
    path = os.environ.get(names.RUNNERS_FILE_VARIABLE)
    return load_document_file(Path(path) if path else Path(__file__).with_name(names.RUNNERS_FILE))


_runtime: Runtime | None = None


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any] | None:
    """The Lambda entry point."""
    global _runtime
    if _runtime is None:  # kept across warm invocations
        _runtime = Runtime.from_environment()
    if "CodePipeline.job" in event:
        handle_job(event["CodePipeline.job"], _runtime)
        return None
    if event.get("action") == "hook":
        return handle_hook(event.get("event"), _runtime)
    return handle_direct(event, _runtime)


# ECS lifecycle hooks


def handle_hook(event: Any, rt: Runtime) -> dict[str, Any]:
    """One call of an ECS lifecycle hook; always an answer ECS reads, never an exception: what
    cannot be answered fails the hook, and ECS rolls the deployment back."""
    try:
        if not isinstance(event, Mapping):
            raise Refused("a hook event is an object")
        return _hook(event, rt)
    except Refused as refused:
        _audit("refused", source="hook", reason=refused.reason)
    except Exception as error:
        traceback.print_exc()
        _audit("hook-error", source="hook", error=str(error))
    return hooks.answer("FAILED")


def _hook(event: Mapping[str, Any], rt: Runtime) -> dict[str, Any]:
    environment, service, stage, steps = hooks.hook_steps(
        rt.document.targets, rt.document.app, event
    )
    details = hooks.details_of(event)
    revision = str(event["targetServiceRevisionArn"])
    where = {"environment": environment, "service": service, "stage": stage}
    state = hooks.state_of(details)
    if state is None:
        return _hook_step(0, steps, revision, details, rt, where)
    step, started = state
    if not 0 <= step < len(steps) or started.target != environment:
        raise InvokerError("the hook's state does not belong to this hook")
    place = rt.place(started.target)
    # The state comes back from the caller: it counts only if it names this step's own task.
    if not job_tasks(place, hooks.hook_job_id(revision, stage, step), (started.task,)):
        raise Refused(f"the hook's state names a task not started for step {step} of this hook")
    task = describe_task(place, started.task)
    name = f"{started.runner}.{started.script}"
    link = console_url(place.region, place.log_group, started.log_stream)
    if not task.stopped:
        if rt.now() <= started.deadline:
            return hooks.answer("IN_PROGRESS", details)
        stop_task(place, started.task, f"pipelines: max wait of {started.max_wait_minutes} minutes")
        _audit(
            "hook-failed",
            **where,
            task=started.task,
            reason=f"{name} still {task.status} after {started.max_wait_minutes} minutes",
        )
        return hooks.answer("FAILED")
    if not task.succeeded:
        _audit("hook-failed", **where, task=started.task, reason=_failure(name, task, link))
        return hooks.answer("FAILED")
    _audit("hook-step-succeeded", **where, step=step, task=started.task)
    if step + 1 < len(steps):
        return _hook_step(step + 1, steps, revision, details, rt, where)
    return hooks.answer("SUCCEEDED")


def _hook_step(
    step: int,
    steps: tuple[str, ...],
    revision: str,
    details: Mapping[str, Any],
    rt: Runtime,
    where: Mapping[str, str],
) -> dict[str, Any]:
    """Start a hook's step (or resume its task, started by an earlier call) and answer
    IN_PROGRESS with it as the hook's state."""
    request = hooks.request_of(steps[step], where["environment"])
    job_id = hooks.hook_job_id(revision, where["stage"], step)
    started, _, resumed = _start_in(request, rt, source="hook", job_id=job_id)
    _audit("hook-step", **where, step=step, task=started.task, resumed=resumed)
    return hooks.answer("IN_PROGRESS", hooks.with_state(details, step, started))


# CodePipeline


def handle_job(job: Mapping[str, Any], rt: Runtime) -> None:
    """One call of a CodePipeline job: report exactly one result for it, whatever happens;
    none, and start nothing new, if it already has one (a repeated delivery of the call)."""
    job_id = job["id"]
    data = job.get("data", {})
    token = data.get("continuationToken")
    try:
        try:
            if token:
                _poll_job(job_id, Started.from_token(token), rt)
            else:
                _start_job(job_id, data, rt)
        except JobClosed:
            raise
        except Refused as refused:
            _audit("refused", source="codepipeline", job=job_id, reason=refused.reason)
            _fail_job(rt, job_id, f"refused: {refused.reason}", "ConfigurationError")
        except Exception as error:
            traceback.print_exc()
            _fail_job(rt, job_id, f"invoker error: {error}", "JobFailed")
    except JobClosed as closed:
        # Not an error of the Lambda's: Lambda would only deliver the call again.
        _audit("already-reported", source="codepipeline", job=job_id, answer=str(closed))


def _report(rt: Runtime, operation: str, **request: Any) -> None:
    """Hand CodePipeline a result for a job (put_job_success_result/put_job_failure_result);
    JobClosed if the job takes none any more."""
    try:
        getattr(rt.codepipeline, operation)(**request)
    except Exception as error:
        if error_code(error) in CLOSED_JOB_ERRORS:
            raise JobClosed(f"{error_code(error)}: {error}") from None
        raise


def user_parameters(text: str | None) -> Any:
    """The request a Lambda invoke action carries, as JSON in its UserParameters."""
    if not text:
        raise Refused("the action has no UserParameters (a JSON object: runner, script, args)")
    try:
        return json.loads(text)
    except ValueError as error:
        raise Refused(f"UserParameters is not JSON: {error}") from None
    except RecursionError:
        raise Refused("UserParameters is nested too deeply to be a request") from None


@dataclass(frozen=True)
class SkipOnRollback:
    """A step's `on_rollback: skip`, as its action carries it: the pipeline and the ID of the
    execution that runs it."""

    pipeline: str
    execution: str


def split_rollback(params: Any) -> tuple[Any, SkipOnRollback | None]:
    """The request without its SKIP_ON_ROLLBACK entry, and that entry (None if it has none)."""
    if not isinstance(params, dict) or SKIP_ON_ROLLBACK not in params:
        return params, None
    request = {k: v for k, v in params.items() if k != SKIP_ON_ROLLBACK}
    entry = params[SKIP_ON_ROLLBACK]
    if (
        not isinstance(entry, dict)
        or set(entry) != {"pipeline", "execution"}
        or not all(isinstance(v, str) and v for v in entry.values())
    ):
        raise Refused(
            f"{SKIP_ON_ROLLBACK} must be an object with the strings pipeline and execution"
        )
    return request, SkipOnRollback(entry["pipeline"], entry["execution"])


def is_rollback(codepipeline: Any, skip: SkipOnRollback) -> bool:
    """Whether the execution is a stage rollback: GetPipelineExecution's executionType."""
    try:
        found = codepipeline.get_pipeline_execution(
            pipelineName=skip.pipeline, pipelineExecutionId=skip.execution
        )["pipelineExecution"]
    except Exception as error:
        raise InvokerError(
            f"cannot tell whether execution {skip.execution} of {skip.pipeline} is a rollback "
            f"(codepipeline:GetPipelineExecution): {error}"
        ) from None
    kind: str = found.get("executionType", "STANDARD")
    return kind == "ROLLBACK"


def skipped_summary(name: str, execution: str) -> str:
    return f"{name}: skipped: execution {execution} is a stage rollback (on_rollback: skip)"


def _start_job(job_id: str, data: Mapping[str, Any], rt: Runtime) -> None:
    """A first call: the job's task, started now or by an earlier delivery of this call; none
    for a step that skips rollbacks, called by a rollback."""
    text = data.get("actionConfiguration", {}).get("configuration", {}).get("UserParameters")
    request, skip = split_rollback(user_parameters(text))
    if skip is not None:
        admitted = admit_request(rt.document, request).admitted
        if is_rollback(rt.codepipeline, skip):
            name = f"{admitted.runner}.{admitted.script}"
            _audit("skipped-on-rollback", source="codepipeline", job=job_id, step=name)
            summary = skipped_summary(name, skip.execution)
            _report(
                rt,
                "put_job_success_result",
                jobId=job_id,
                outputVariables={
                    "summary": short_summary(f"{name}: skipped on a stage rollback"),
                    "skipped": "rollback",
                },
                executionDetails={"summary": summary, "percentComplete": 100},
            )
            return
    started, _, resumed = _start_in(request, rt, source="codepipeline", job=data, job_id=job_id)
    name = f"{started.runner}.{started.script}"
    _report(
        rt,
        "put_job_success_result",
        jobId=job_id,
        continuationToken=started.token(),
        executionDetails={
            "summary": (
                f"{name}: task {started.task_id}, started by an earlier delivery of this call"
                if resumed
                else f"{name}: started task {started.task_id}"
            ),
            "externalExecutionId": started.task_id,
            "percentComplete": 0,
        },
    )


def _poll_job(job_id: str, started: Started, rt: Runtime) -> None:
    place = rt.place(started.target)
    state = describe_task(place, started.task)
    # The log group is the place's, whatever the token says.
    link = console_url(place.region, place.log_group, started.log_stream)
    name = f"{started.runner}.{started.script}"
    if not state.stopped:
        now = rt.now()
        if now > started.deadline:
            stop_task(
                place,
                started.task,
                f"pipelines: max wait of {started.max_wait_minutes} minutes exceeded",
            )
            _fail_job(
                rt,
                job_id,
                f"{name} timed out: still {state.status} after the max wait of "
                f"{started.max_wait_minutes} minutes; task {started.task_id} stopped. "
                f"Logs: {link}",
                "JobFailed",
                started.task_id,
            )
            return
        total = max(started.deadline - started.started, 1)
        _report(
            rt,
            "put_job_success_result",
            jobId=job_id,
            continuationToken=started.token(),
            executionDetails={
                "summary": f"{name}: task {started.task_id} is {state.status}",
                "externalExecutionId": started.task_id,
                "percentComplete": min(99, int(100 * (now - started.started) / total)),
            },
        )
        return
    if state.succeeded:
        outputs = read_outputs(place.logs, place.log_group, started.log_stream)
        variables = _output_variables(outputs, started, link)
        _report(
            rt,
            "put_job_success_result",
            jobId=job_id,
            outputVariables=variables,
            executionDetails={
                "summary": outputs.get("summary", f"{name} finished")[:2048],
                "externalExecutionId": started.task_id,
                "percentComplete": 100,
            },
        )
        return
    _fail_job(rt, job_id, _failure(name, state, link), "JobFailed", started.task_id)


def _output_variables(outputs: Mapping[str, str], started: Started, link: str) -> dict[str, str]:
    return job_variables(outputs, logs=link, task=started.task_id)


def job_variables(outputs: Mapping[str, str], *, logs: str, task: str) -> dict[str, str]:
    """A succeeded job's output variables: what it printed, within limits, and our own."""
    chosen = [(k, v) for k, v in outputs.items() if k not in RESERVED_OUTPUTS]
    variables = dict(chosen[:MAX_JOB_OUTPUTS])
    if "summary" in variables:
        # Approval messages quote summaries, and CodePipeline caps them at 500 characters.
        variables["summary"] = short_summary(variables["summary"])
    variables.update(exitCode="0", logs=logs, task=task)
    return variables


def short_summary(text: str) -> str:
    """A job's summary as its output variable: at most names.MAX_SUMMARY characters."""
    if len(text) <= names.MAX_SUMMARY:
        return text
    return text[: names.MAX_SUMMARY - 3] + "..."


def _failure(name: str, state: TaskState, link: str) -> str:
    what = (
        f"exit code {state.exit_code}"
        if state.exit_code is not None
        else "the task stopped without an exit code"
    )
    why = f" ({state.stop_reason})" if state.stop_reason else ""
    return f"{name} failed: {what}{why}. Logs: {link}"


def _fail_job(
    rt: Runtime, job_id: str, message: str, kind: str, execution_id: str | None = None
) -> None:
    details: dict[str, Any] = {"type": kind, "message": message[:5000]}
    if execution_id:
        details["externalExecutionId"] = execution_id
    _report(rt, "put_job_failure_result", jobId=job_id, failureDetails=details)


def _input_artifacts(data: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """The job's S3 input artifacts: name -> (bucket, key)."""
    found = {}
    for artifact in data.get("inputArtifacts", []):
        location = artifact.get("location", {})
        s3 = location.get("s3Location", {})
        if location.get("type") == "S3" and s3.get("bucketName") and s3.get("objectKey"):
            found[artifact["name"]] = (s3["bucketName"], s3["objectKey"])
    return found


def _artifacts(
    data: Mapping[str, Any] | None, rt: Runtime, place: Place, argv: tuple[str, ...]
) -> dict[str, str]:
    """Locations of the job's input artifacts, for jobs that read `Artifact::path`.

    On the toolchain: `s3://bucket/key`, which the runner's task role reads. In a target: a
    presigned HTTPS link per artifact the command line names (`Name::...`), signed with the
    job's artifact credentials; only those, as each link is long and ECS caps the overrides.
    """
    found = _input_artifacts(data or {})
    if place.target is None:
        return {name: f"s3://{bucket}/{key}" for name, (bucket, key) in found.items()}
    named = {token.partition("::")[0] for token in argv if "::" in token}
    wanted = {name: where for name, where in found.items() if name in named}
    if not wanted:
        return {}
    credentials = (data or {}).get("artifactCredentials") or {}
    if not credentials.get("accessKeyId") or not credentials.get("secretAccessKey"):
        raise InvokerError(
            "the job has no artifactCredentials, so its input artifacts cannot be shared "
            f"with environment {place.target}"
        )
    return {
        name: rt.presign(credentials, rt.region, bucket, key)
        for name, (bucket, key) in wanted.items()
    }


# Direct calls


def handle_direct(event: Mapping[str, Any], rt: Runtime) -> dict[str, Any]:
    """`pipelines run`'s calls; always an answer, never an exception."""
    action = event.get("action")
    body = {k: v for k, v in event.items() if k != "action"}
    try:
        if action == "start":
            return _direct_start(body, rt)
        if action == "status":
            return _direct_status(body, rt)
        if action == "stop":
            task = body.get("task")
            environment = _direct_environment(body, rt)
            stop_task(
                rt.place(rt.target_of(environment)),
                task,
                str(body.get("reason", "stopped by pipelines run")),
            )
            _audit("stopped", source="direct", task=task, environment=environment)
            return {"ok": True}
        return {"ok": False, "error": f"unknown action {action!r}; use start, status or stop"}
    except Refused as refused:
        _audit("refused", source="direct", reason=refused.reason)
        return {"ok": False, "refused": refused.reason}
    except InvokerError as error:
        return {"ok": False, "error": str(error)}
    except Exception as error:
        traceback.print_exc()
        return {"ok": False, "error": f"invoker error: {error}"}


def _direct_environment(body: Mapping[str, Any], rt: Runtime) -> str | None:
    environment = body.get("environment")
    if environment is None:
        return None
    return check_environment(environment, rt.document.known_environments)


def _direct_start(body: Mapping[str, Any], rt: Runtime) -> dict[str, Any]:
    started, place, _ = _start_in(dict(body), rt, source="direct")
    return {
        "ok": True,
        "task": started.task,
        "runner": started.runner,
        "script": started.script,
        "target": started.target,
        "logGroup": started.log_group,
        "logStream": started.log_stream,
        "logs": console_url(place.region, started.log_group, started.log_stream),
        "deadline": started.deadline,
        "maxWaitMinutes": started.max_wait_minutes,
    }


def _direct_status(body: Mapping[str, Any], rt: Runtime) -> dict[str, Any]:
    task = body.get("task")
    place = rt.place(rt.target_of(_direct_environment(body, rt)))
    state = describe_task(place, task)
    token = body.get("logToken")
    if token is not None and not isinstance(token, str):
        raise Refused("logToken must be a string")
    stream = names.log_stream(state.runner, str(task).rsplit("/", 1)[-1])
    events, token = read_log_events(place.logs, place.log_group, stream, token)
    return {
        "ok": True,
        "status": state.status,
        "stopped": state.stopped,
        "exitCode": state.exit_code,
        "stopReason": state.stop_reason,
        "events": [{"timestamp": e.timestamp, "message": e.message} for e in events],
        "logToken": token,
    }


@dataclass(frozen=True)
class Admission:
    """A request the invoker may start: the exact job, where it runs, the image it runs."""

    admitted: Admitted
    environment: str | None
    image: str | None  # the release image (`<repository>@sha256:...`) a release runner runs
    target: str | None  # the environment whose own runner stack runs it; None: the toolchain


def admit_request(document: RunnersDocument, params: Any) -> Admission:
    """Every check a request passes before the invoker starts anything (the rehearsal runs
    the same): the allow-list, the environment, the release image, and a task definition for
    the runner where it would run."""
    request, environment, image = request_from_json(params)
    admitted = admit(document.runners, request)
    if environment is not None:
        check_environment(environment, document.known_environments)
    image = check_release_image(
        admitted.runner,
        document.runners[admitted.runner].image,
        image,
        document.release_repositories,
    )
    if admitted.on != "ecs":
        raise Refused(
            f"runner {admitted.runner!r} runs on CodeBuild: its steps are CodeBuild actions, "
            "not tasks the invoker starts"
        )
    target = environment if environment is not None and environment in document.targets else None
    # Synth lists the task definitions each runner stack has; a document without the list (one
    # written by hand) leaves the question to ECS.
    families = document.targets[target].task_definitions if target else document.task_definitions
    if families and admitted.runner not in families:
        hint = (
            f"no step of {target} runs it; add one to environments/{target}.yaml"
            if target
            else "name the environment whose steps run it (--env)"
        )
        raise Refused(
            f"the runner stack of {target or 'the toolchain'} has no task definition for "
            f"{admitted.runner!r} (it has {', '.join(sorted(families))}): {hint}"
        )
    return Admission(admitted, environment, image, target)


def _start_in(
    params: Any,
    rt: Runtime,
    *,
    source: str,
    job: Mapping[str, Any] | None = None,
    job_id: str | None = None,
) -> tuple[Started, Place, bool]:
    """Admit the request, then start its task where its environment's jobs run; with the
    `job_id` of a CodePipeline job, resume the task an earlier delivery of the call started
    for it instead, if there is one (True: resumed)."""
    document = rt.document
    admission = admit_request(document, params)
    admitted, environment, image, target = (
        admission.admitted,
        admission.environment,
        admission.image,
        admission.target,
    )
    if target is None and document.network is None:
        raise InvokerError("runners.json has no network, so no ECS task can be started")
    place = rt.place(target)
    if target is None:
        network = document.network
        if network is not None and not network.security_groups:
            group = security_group(place, network.stack)
            network = Network(network.subnets, (group,), network.assign_public_ip)
    else:
        found = document.targets[target]
        network = Network(
            subnets=found.subnets,
            security_groups=(security_group(place, found.stack),),
            assign_public_ip=found.assign_public_ip,
        )
    if job_id is not None:
        # After the reads that say what to deploy, before anything that acts (a task
        # definition revision, an artifact link, a task).
        resumed = _resume(place, admitted, job_id, rt, source=source)
        if resumed is not None:
            return resumed, place, True
    task_definition = document.task_definition(admitted.runner, target)
    if image is not None:
        task_definition = release_revision(place.ecs, task_definition, image)
    try:
        started = start_task(
            place,
            admitted,
            task_definition=task_definition,
            network=network,
            now=rt.now(),
            environment=environment,
            artifacts=_artifacts(job, rt, place, admitted.argv) if job is not None else None,
            job_id=job_id,
        )
    except JobTaskExists as exists:
        assert job_id is not None  # only a job's RunTask has a token of ours
        resumed = _resume(place, admitted, job_id, rt, source=source, tasks=exists.tasks)
        if resumed is None and exists.tasks:  # none of those: look the job's task up
            resumed = _resume(place, admitted, job_id, rt, source=source)
        if resumed is None:
            raise InvokerError(f"{exists}, yet no such task of the job is found") from None
        return resumed, place, True
    _audit(
        "started",
        source=source,
        job=job_id,
        runner=admitted.runner,
        script=admitted.script,
        argv=list(admitted.argv),
        environment=environment,
        target=target,
        image=image,
        task_definition=task_definition,
        task=started.task,
    )
    return started, place, False


def _resume(
    place: Place,
    admitted: Admitted,
    job_id: str,
    rt: Runtime,
    *,
    source: str,
    tasks: tuple[str, ...] | None = None,
) -> Started | None:
    """The task an earlier delivery of this job's first call started, if ECS has one (named
    by `tasks`, else looked up by the job's startedBy)."""
    try:
        found = job_tasks(place, job_id, tasks)
    except InvokerError:
        raise
    except Exception as error:
        raise InvokerError(
            f"cannot look up the task of job {job_id} in cluster {place.cluster} "
            f"(ecs:ListTasks, ecs:DescribeTasks): {error}"
        ) from None
    if not found:
        return None
    started = resume_task(place, admitted, found[0], now=rt.now())
    _audit(
        "resumed",
        source=source,
        job=job_id,
        runner=admitted.runner,
        script=admitted.script,
        target=place.target,
        task=started.task,
        tasks=[t.get("taskArn") for t in found],
    )
    return started


def _audit(event: str, **fields: Any) -> None:
    """One JSON line per decision in the Lambda's log: who ran what, and what was refused."""
    print(json.dumps({"event": event, **fields}, sort_keys=True), flush=True)
