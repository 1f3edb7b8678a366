"""`pipelines run`: start an allow-listed job through the invoker Lambda and follow its logs.

The job's log lines are reported as they arrive (`Reporter.info`); the result is its exit code.

The request is checked here first with the same gatekeeper the Lambda runs, so a mistake is
refused before any AWS call; the Lambda checks it again, because only its check counts.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pipelines.aws.progress import SILENT, Reporter
from pipelines.invoker.allowlist import Refused
from pipelines.invoker.document import RunnersDocument
from pipelines.invoker.handler import admit_request

Invoke = Callable[[Mapping[str, Any]], dict[str, Any]]

POLL_SECONDS = 3.0
# After the task stops, CloudWatch may still be taking in its last lines: look again after this.
DRAIN_SECONDS = 2.0
EXIT_REFUSED = 2
EXIT_TIMED_OUT = 124  # what timeout(1) uses
_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


class RunError(Exception):
    """The job could not be started or followed."""


class DurationError(ValueError):
    """Not a duration `parse_duration` reads."""


@dataclass(frozen=True)
class RunOptions:
    runner: str
    script: str
    args: tuple[str, ...] = ()
    environment: str | None = None
    cpu: int | None = None
    memory: int | None = None
    max_wait_minutes: int | None = None
    wait: bool = True
    # For a runner of the release image: `<release_repository>@sha256:<digest>`.
    image: str | None = None


def parse_duration(text: str) -> int:
    """Whole minutes (rounded up) in `90m`, `2h`, `30s` or `1h30m`."""
    match = _DURATION.fullmatch(text.strip())
    if not text.strip() or not match or not any(match.groups()):
        raise DurationError(f"{text!r} is not a duration like 90m, 2h or 30s")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total < 1:
        raise DurationError("the duration must be longer than zero")
    return math.ceil(total / 60)


def describe(document: RunnersDocument) -> str:
    """Every runner and script, with what a caller may pass: `pipelines run --describe`."""
    lines: list[str] = []
    for name in sorted(document.runners):
        runner = document.runners[name]
        lines.append(
            f"{name}  (on {runner.on}; up to cpu {runner.cpu}, memory {runner.memory} MiB, "
            f"wait {runner.max_wait_minutes}m; image {runner.image})"
        )
        for script_name in sorted(runner.scripts):
            script = runner.scripts[script_name]
            lines.append(f"  {script_name}: {' '.join(script.command)}")
            if script.options:
                lines.append(f"    always passed: {' '.join(script.options)}")
            for option in sorted(script.allowed_options):
                pattern = script.allowed_options[option]
                shown = "(flag)" if pattern is None else f"VALUE matching {pattern}"
                lines.append(f"    {option} {shown}")
            if script.positional:
                lines.append(f"    positional arguments matching {script.positional_pattern}")
            if not script.allowed_options and not script.positional:
                lines.append("    (takes no arguments)")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def lambda_invoker(function: str, region: str | None) -> Invoke:
    """Calls the invoker Lambda with a direct-shape event; boto3 is imported only here."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "lambda", region_name=region, config=Config(read_timeout=120, retries={"mode": "standard"})
    )
    return invoker_from_client(client, function)


def lazy_invoker(function: str, region: str | None) -> Invoke:
    """An Invoke that makes its client on first use: a locally refused request needs none."""
    made: list[Invoke] = []

    def invoke(payload: Mapping[str, Any]) -> dict[str, Any]:
        if not made:
            made.append(lambda_invoker(function, region))
        return made[0](payload)

    return invoke


def invoker_from_client(client: Any, function: str) -> Invoke:
    def invoke(payload: Mapping[str, Any]) -> dict[str, Any]:
        try:
            response = client.invoke(
                FunctionName=function,
                InvocationType="RequestResponse",
                Payload=json.dumps(payload).encode(),
            )
        except Exception as error:  # botocore's errors: no credentials, access denied, ...
            raise RunError(f"cannot call the invoker {function}: {error}") from None
        body = response["Payload"].read()
        if response.get("FunctionError"):
            raise RunError(f"the invoker {function} failed: {body.decode(errors='replace')[:500]}")
        try:
            answer = json.loads(body)
        except ValueError:
            raise RunError(f"the invoker {function} answered something that is not JSON") from None
        if not isinstance(answer, dict):
            raise RunError(f"the invoker {function} answered {answer!r}")
        return answer

    return invoke


@dataclass(frozen=True)
class Job:
    """A job that was started, and how it ended if it was followed."""

    task: str
    exit_code: int  # the job's; 0 for a job not waited for; EXIT_TIMED_OUT when given up on
    error: str | None = None  # why it did not succeed, in a line


def run_job(
    document: RunnersDocument,
    options: RunOptions,
    invoke: Invoke,
    *,
    reporter: Reporter = SILENT,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] | None = None,
) -> Job:
    """Start the job and, unless told not to wait, report its log lines as they arrive."""
    echo = reporter.info
    payload: dict[str, Any] = {
        "runner": options.runner,
        "script": options.script,
        "args": list(options.args),
    }
    optional = {
        "environment": options.environment,
        "cpu": options.cpu,
        "memory": options.memory,
        "max_wait_minutes": options.max_wait_minutes,
        "image": options.image,
    }
    payload.update({k: v for k, v in optional.items() if v is not None})
    # Refused here, before any AWS call, by the very checks the invoker makes.
    admitted = admit_request(document, payload).admitted
    payload["action"] = "start"
    # Status and stop go to the same place as the start: the environment's own runner.
    where = {} if options.environment is None else {"environment": options.environment}
    started = _answer(invoke(payload))
    task = started["task"]
    echo(f"started {options.runner}.{options.script} as {task}")
    echo(f"logs: {started.get('logs', '')}")
    if not options.wait:
        return Job(task, 0)
    clock = clock or time.monotonic
    deadline = clock() + admitted.max_wait_minutes * 60
    token: str | None = None
    try:
        while True:
            status = _answer(invoke({"action": "status", "task": task, "logToken": token, **where}))
            token = _print_events(status, echo, token)
            if status.get("stopped"):
                token = _drain(invoke, task, token, echo, sleep, where)
                return _finish(task, status)
            if clock() > deadline:
                _answer(
                    invoke({"action": "stop", "task": task, "reason": "max wait exceeded", **where})
                )
                gave_up = f"gave up after {admitted.max_wait_minutes} minutes; task stopped"
                return Job(task, EXIT_TIMED_OUT, gave_up)
            sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        # Stopping an apply halfway leaves worse state than letting it finish.
        echo(f"\nstopped following; the task keeps running: {task}")
        raise


def _drain(
    invoke: Invoke,
    task: str,
    token: str | None,
    echo: Callable[[str], None],
    sleep: Any,
    where: Mapping[str, str],
) -> str | None:
    """Read what the stopped task logged last; CloudWatch can lag the task by a moment."""
    sleep(DRAIN_SECONDS)
    status = _answer(invoke({"action": "status", "task": task, "logToken": token, **where}))
    return _print_events(status, echo, token)


def _print_events(
    status: Mapping[str, Any], echo: Callable[[str], None], token: str | None
) -> str | None:
    for event in status.get("events", []):
        echo(event["message"].rstrip("\n"))
    found = status.get("logToken", token)
    return None if found is None else str(found)


def _finish(task: str, status: Mapping[str, Any]) -> Job:
    code = status.get("exitCode")
    if code == 0:
        return Job(task, 0)
    reason = status.get("stopReason") or "no reason given"
    if code is None:
        return Job(task, 1, f"the task stopped without an exit code: {reason}")
    return Job(task, int(code), f"the job exited with {code}")


def _answer(answer: Mapping[str, Any]) -> dict[str, Any]:
    if answer.get("ok"):
        return dict(answer)
    if answer.get("refused"):
        raise Refused(str(answer["refused"]))
    raise RunError(str(answer.get("error", "the invoker gave no answer")))
