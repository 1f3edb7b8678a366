"""The invoker Lambda: the gatekeeper in front of the runner's ECS tasks.

Two kinds of event reach `handler`:

- A CodePipeline Lambda invoke action (`{"CodePipeline.job": ...}`). Its UserParameters are a
  JSON object `{"runner", "script", "args": [...], "environment", "cpu", "memory",
  "max_wait_minutes"}`. The first call admits the request and starts the task, and answers
  with a continuation token; each later call (CodePipeline calls again while the token is
  returned) checks the task: still running -> continuation; exit 0 -> success with output
  variables; anything else, or past the max wait (the task is stopped) -> failure naming the
  exit code and the logs. A refused request fails the action and starts nothing.
- A direct invocation from `pipelines run`: `{"action": "start", <request>}`,
  `{"action": "status", "task": ARN, "logToken": ...}` or `{"action": "stop", "task": ARN}`,
  answered with a JSON object (`ok` false with `refused` or `error` when it is not done).

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

from pipelines.runner import names
from pipelines.runner.allowlist import Refused, admit, check_environment, request_from_json
from pipelines.runner.document import RunnersDocument, load_document, load_document_file
from pipelines.runner.logs import console_url, read_log_events, read_outputs
from pipelines.runner.tasks import (
    InvokerError,
    Started,
    TaskState,
    describe_task,
    start_task,
    stop_task,
)

# Output variables the invoker sets itself; a job cannot print its way over them.
RESERVED_OUTPUTS = frozenset({"exitCode", "logs", "task"})
MAX_JOB_OUTPUTS = 16


@dataclass
class Runtime:
    """What a call needs: the document, AWS clients, the region for links, a clock."""

    document: RunnersDocument
    ecs: Any
    logs: Any
    codepipeline: Any = None
    region: str = ""
    now: Callable[[], float] = field(default=time.time)

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
        )


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
    return handle_direct(event, _runtime)


# CodePipeline


def handle_job(job: Mapping[str, Any], rt: Runtime) -> None:
    """One call of a CodePipeline job: report exactly one result for it, whatever happens."""
    job_id = job["id"]
    data = job.get("data", {})
    token = data.get("continuationToken")
    try:
        if token:
            _poll_job(job_id, Started.from_token(token), rt)
        else:
            _start_job(job_id, data, rt)
    except Refused as refused:
        _audit("refused", source="codepipeline", job=job_id, reason=refused.reason)
        _fail_job(rt, job_id, f"refused: {refused.reason}", "ConfigurationError")
    except Exception as error:
        traceback.print_exc()
        _fail_job(rt, job_id, f"invoker error: {error}", "JobFailed")


def _start_job(job_id: str, data: Mapping[str, Any], rt: Runtime) -> None:
    text = data.get("actionConfiguration", {}).get("configuration", {}).get("UserParameters")
    if not text:
        raise Refused("the action has no UserParameters (a JSON object: runner, script, args)")
    try:
        params = json.loads(text)
    except ValueError as error:
        raise Refused(f"UserParameters is not JSON: {error}") from None
    started = _start(params, rt, source="codepipeline", artifacts=_artifacts(data))
    rt.codepipeline.put_job_success_result(
        jobId=job_id,
        continuationToken=started.token(),
        executionDetails={
            "summary": f"{started.runner}.{started.script}: started task {started.task_id}",
            "externalExecutionId": started.task_id,
            "percentComplete": 0,
        },
    )


def _poll_job(job_id: str, started: Started, rt: Runtime) -> None:
    state = describe_task(rt.ecs, rt.document, started.task)
    link = console_url(rt.region, started.log_group, started.log_stream)
    name = f"{started.runner}.{started.script}"
    if not state.stopped:
        now = rt.now()
        if now > started.deadline:
            stop_task(
                rt.ecs,
                rt.document,
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
        rt.codepipeline.put_job_success_result(
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
        outputs = read_outputs(rt.logs, started.log_group, started.log_stream)
        variables = _output_variables(outputs, started, link)
        rt.codepipeline.put_job_success_result(
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
    chosen = [(k, v) for k, v in outputs.items() if k not in RESERVED_OUTPUTS]
    variables = dict(chosen[:MAX_JOB_OUTPUTS])
    variables.update(exitCode="0", logs=link, task=started.task_id)
    return variables


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
    rt.codepipeline.put_job_failure_result(jobId=job_id, failureDetails=details)


def _artifacts(data: Mapping[str, Any]) -> dict[str, str]:
    """The job's S3 input artifacts, by name, for jobs that read `Artifact::path`."""
    found = {}
    for artifact in data.get("inputArtifacts", []):
        location = artifact.get("location", {})
        s3 = location.get("s3Location", {})
        if location.get("type") == "S3" and s3.get("bucketName") and s3.get("objectKey"):
            found[artifact["name"]] = f"s3://{s3['bucketName']}/{s3['objectKey']}"
    return found


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
            stop_task(
                rt.ecs, rt.document, task, str(body.get("reason", "stopped by pipelines run"))
            )
            _audit("stopped", source="direct", task=task)
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


def _direct_start(body: Mapping[str, Any], rt: Runtime) -> dict[str, Any]:
    started = _start(dict(body), rt, source="direct")
    return {
        "ok": True,
        "task": started.task,
        "runner": started.runner,
        "script": started.script,
        "logGroup": started.log_group,
        "logStream": started.log_stream,
        "logs": console_url(rt.region, started.log_group, started.log_stream),
        "deadline": started.deadline,
        "maxWaitMinutes": started.max_wait_minutes,
    }


def _direct_status(body: Mapping[str, Any], rt: Runtime) -> dict[str, Any]:
    task = body.get("task")
    state = describe_task(rt.ecs, rt.document, task)
    token = body.get("logToken")
    if token is not None and not isinstance(token, str):
        raise Refused("logToken must be a string")
    stream = names.log_stream(state.runner, str(task).rsplit("/", 1)[-1])
    events, token = read_log_events(rt.logs, rt.document.log_group, stream, token)
    return {
        "ok": True,
        "status": state.status,
        "stopped": state.stopped,
        "exitCode": state.exit_code,
        "stopReason": state.stop_reason,
        "events": [{"timestamp": e.timestamp, "message": e.message} for e in events],
        "logToken": token,
    }


def _start(
    params: Any, rt: Runtime, *, source: str, artifacts: Mapping[str, str] | None = None
) -> Started:
    request, environment = request_from_json(params)
    admitted = admit(rt.document.runners, request)
    if environment is not None:
        check_environment(environment, rt.document.environments)
    started = start_task(
        rt.ecs,
        rt.document,
        admitted,
        now=rt.now(),
        environment=environment,
        artifacts=artifacts,
    )
    _audit(
        "started",
        source=source,
        runner=admitted.runner,
        script=admitted.script,
        argv=list(admitted.argv),
        environment=environment,
        task=started.task,
    )
    return started


def _audit(event: str, **fields: Any) -> None:
    """One JSON line per decision in the Lambda's log: who ran what, and what was refused."""
    print(json.dumps({"event": event, **fields}, sort_keys=True), flush=True)
