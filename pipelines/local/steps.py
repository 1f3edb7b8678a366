"""Deploy-runner steps in the rehearsal: admitted as at run time, built-in jobs run in-process.

A step is a pipeline action of one of two kinds (pipelines/builders/pipeline.py::_runner_action):

- `Invoke/AWS/Lambda/1` naming the app's invoker, whose UserParameters the invoker admits once
  CodePipeline has resolved their variables. `admit_invoke` repeats the invoker's own checks
  (pipelines/invoker/handler.py::_start_in), with the same functions: `request_from_json`,
  `admit` without `allow_variables`, the environment against runners.json, the release image
  against its repository, and the runner running on ECS.
- `Build/AWS/CodeBuild/1` on one of the app's runner projects, whose buildspec runs the argv
  in `PIPELINES_ARGV` as it is. Nothing admits it at run time in AWS (synth did); here
  `admit_codebuild` checks that the argv is exactly what `admit` makes of one of the runner's
  scripts, so a declaration edited past synth is caught.

`run_job` runs a built-in job (`python -m pipelines.jobs ...`) by calling
`pipelines.jobs.main` in this process, with its AWS clients made by the caller (the
runner's task role in the environment's account), its input artifacts served from memory and
its output captured. Only the job module's seams are swapped, for the call: `_client`,
`_download` and `POLL_SECONDS`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from pipelines import naming
from pipelines.config.builtin_runners import JOBS
from pipelines.invoker import names
from pipelines.invoker.allowlist import (
    Refused,
    RunRequest,
    admit,
    check_environment,
)
from pipelines.invoker.document import RunnersDocument
from pipelines.invoker.handler import Admission, SkipOnRollback, admit_request, split_rollback
from pipelines.invoker.handler import user_parameters as invoker_user_parameters
from pipelines.invoker.logs import parse_output

# The variable names of a runner CodeBuild action (pipeline.py::_runner_action).
CODEBUILD_VARIABLES = frozenset({names.RUNNER_ARGV_VARIABLE, names.ENVIRONMENT_VARIABLE})
# Where a job's `Artifact::path` is fetched from: links the rehearsal serves from memory (the
# invoker gives presigned HTTPS links in a target, s3:// locations on the toolchain).
ARTIFACT_LINK = "https://rehearsal.invalid/artifacts/{name}.zip"
STOOD_IN_SUMMARY = "not run in rehearsal"


# The built-in jobs that only call AWS APIs, so that the embedded AWS serves all they do. The
# others run a tool (terraform, kaniko, docker) that would act outside it, on this machine.
IN_PROCESS = (("cloudformation", "plan"), ("cloudformation", "apply"))


def is_builtin(argv: Sequence[str]) -> bool:
    """A job of this package's own (`python -m pipelines.jobs ...`)."""
    return tuple(argv[: len(JOBS)]) == JOBS


def runs_in_process(argv: Sequence[str]) -> bool:
    """A built-in job the rehearsal runs, in this process, against the embedded AWS."""
    return is_builtin(argv) and tuple(argv[len(JOBS) : len(JOBS) + 2]) in IN_PROCESS


def not_run_because(argv: Sequence[str]) -> str:
    """Why a job is stood in for rather than run."""
    if not is_builtin(argv):
        return "it runs in its own image"
    job = argv[len(JOBS)] if len(argv) > len(JOBS) else ""
    tool = {"terraform": "terraform", "build": "an image build"}.get(job, job or "nothing")
    return f"it runs {tool}, which would act outside the embedded AWS"


# Checks before anything runs ----------------------------------------------------------------


def check_invoke_action(document: RunnersDocument, config: Mapping[str, str]) -> str | None:
    """What is wrong with an invoke action's static configuration, or None."""
    function = config.get("FunctionName")
    invoker = naming.invoker_function(document.app)
    if function != invoker:
        return f"FunctionName {function!r} is not the app's invoker {invoker!r}"
    if "UserParameters" not in config:
        return "no UserParameters (the invoker's request)"
    return None


def check_codebuild_action(document: RunnersDocument, config: Mapping[str, str]) -> str | None:
    """What is wrong with a CodeBuild action's static configuration, or None."""
    project = config.get("ProjectName")
    if project not in codebuild_projects(document):
        known = ", ".join(sorted(codebuild_projects(document))) or "none"
        return f"ProjectName {project!r} is not one of the app's runner projects ({known})"
    try:
        _codebuild_variables(config.get("EnvironmentVariables", "[]"))
    except Refused as refused:
        return refused.reason
    return None


def codebuild_projects(document: RunnersDocument) -> dict[str, str]:
    """Project name -> runner, for the runners that run on CodeBuild."""
    return {
        naming.runner_codebuild_project(document.app, name): name
        for name, runner in document.runners.items()
        if runner.on == "codebuild"
    }


# Admission at run time ----------------------------------------------------------------------


def admit_invoke(document: RunnersDocument, user_parameters: str) -> Admission:
    """The invoker's checks of a resolved request: its reading of UserParameters (without the
    step's on_rollback setting, see skip_on_rollback), then admit_request."""
    request, _ = split_rollback(invoker_user_parameters(user_parameters))
    return admit_request(document, request)


def skip_on_rollback(user_parameters: str) -> SkipOnRollback | None:
    """The step's `on_rollback: skip`, as the invoker reads it from UserParameters."""
    return split_rollback(invoker_user_parameters(user_parameters))[1]


def admit_codebuild(document: RunnersDocument, config: Mapping[str, str]) -> Admission:
    """The argv of a CodeBuild step, admitted: exactly what `admit` makes of a script of the
    project's runner with some arguments."""
    runner = codebuild_projects(document)[config["ProjectName"]]
    variables = _codebuild_variables(config.get("EnvironmentVariables", "[]"))
    try:
        argv = json.loads(variables[names.RUNNER_ARGV_VARIABLE])
    except (KeyError, ValueError):
        raise Refused(f"{names.RUNNER_ARGV_VARIABLE} is not a JSON list of strings") from None
    if not isinstance(argv, list) or not all(isinstance(t, str) for t in argv):
        raise Refused(f"{names.RUNNER_ARGV_VARIABLE} is not a JSON list of strings")
    environment = variables.get(names.ENVIRONMENT_VARIABLE)
    if environment is not None:
        check_environment(environment, document.environments)
    problems = []
    for name, script in sorted(document.runners[runner].scripts.items()):
        head = (*script.command, *script.options)
        if tuple(argv[: len(head)]) != head:
            continue
        try:
            admitted = admit(document.runners, RunRequest(runner, name, tuple(argv[len(head) :])))
        except Refused as refused:
            problems.append(refused.reason)
            continue
        if admitted.argv == tuple(argv):
            return Admission(admitted, environment, None, None)
        problems.append(f"{runner}.{name} would run {list(admitted.argv)}")
    why = "; ".join(problems) or f"no script of runner {runner!r} runs {argv[:4]}"
    raise Refused(f"{names.RUNNER_ARGV_VARIABLE} is not an argv the allow-list admits: {why}")


def _codebuild_variables(text: str) -> dict[str, str]:
    try:
        items = json.loads(text)
    except ValueError:
        raise Refused("EnvironmentVariables is not JSON") from None
    if not isinstance(items, list):
        raise Refused("EnvironmentVariables is not a JSON list")
    found: dict[str, str] = {}
    for item in items:
        if not isinstance(item, dict) or set(item) - {"name", "value", "type"}:
            raise Refused(f"EnvironmentVariables entry {item!r} cannot be interpreted")
        if item.get("type", "PLAINTEXT") != "PLAINTEXT":
            raise Refused(
                f"EnvironmentVariables {item.get('name')!r} of type {item.get('type')} cannot be "
                "interpreted (only PLAINTEXT)"
            )
        if item.get("name") not in CODEBUILD_VARIABLES:
            raise Refused(
                f"EnvironmentVariables {item.get('name')!r} cannot be interpreted (known: "
                f"{', '.join(sorted(CODEBUILD_VARIABLES))})"
            )
        found[item["name"]] = str(item.get("value", ""))
    if names.RUNNER_ARGV_VARIABLE not in found:
        raise Refused(f"EnvironmentVariables has no {names.RUNNER_ARGV_VARIABLE}")
    return found


# Running a built-in job ---------------------------------------------------------------------


@dataclass(frozen=True)
class JobRun:
    exit_code: int
    lines: tuple[str, ...]  # stdout and stderr, interleaved as printed

    @property
    def outputs(self) -> dict[str, str]:
        """NAME=VALUE of its `::pipelines-output::` lines, the last per name winning, as the
        invoker reads them from the job's log (logs.read_outputs)."""
        found: dict[str, str] = {}
        for line in self.lines:
            parsed = parse_output(line)
            if parsed:
                found[parsed[0]] = parsed[1]
        return found


def run_job(
    argv: Sequence[str],
    *,
    client: Callable[[str], Any],
    variables: Mapping[str, str],
    artifacts: Mapping[str, bytes],
) -> JobRun:
    """Run a built-in job's argv with `pipelines.jobs.main`, in this process.

    `client(service)` makes its AWS clients; `variables` are its environment (PIPELINES_*,
    as the invoker or the CodeBuild action sets them); `artifacts` the zips its `Artifact::`
    references may read. An uncaught exception is a Python process dying: its traceback is
    printed and the exit code is 1; argparse's usage errors exit 2, as they would.
    """
    from pipelines.jobs import main as jobs

    if not runs_in_process(argv):
        raise ValueError(f"not a job the rehearsal runs: {list(argv)[:5]}")
    links = {name: ARTIFACT_LINK.format(name=name) for name in artifacts}

    def download(name: str, url: str, archive: Path) -> None:
        if links.get(name) != url:
            raise jobs.JobError(f"cannot download artifact {name!r}: not served by the rehearsal")
        archive.write_bytes(artifacts[name])

    environment = {
        **variables,
        names.ARTIFACTS_VARIABLE: json.dumps(links, sort_keys=True) if links else "",
        names.OUTPUT_FILE_VARIABLE: "",
    }
    captured = io.StringIO()
    job = threading.get_ident()
    with (
        ONE_JOB,
        _environment(environment),
        _swapped(jobs, "_client", client),
        _swapped(jobs, "_download", download),
        _swapped(jobs, "POLL_SECONDS", 0),
        contextlib.redirect_stdout(_ThreadOutput(job, captured, sys.stdout)),
        contextlib.redirect_stderr(_ThreadOutput(job, captured, sys.stderr)),
    ):
        try:
            code = jobs.main(list(argv[len(JOBS) :]))
        except SystemExit as exit_:  # argparse: usage errors
            code = exit_.code if isinstance(exit_.code, int) else 1
        except Exception:
            traceback.print_exc()
            code = 1
    return JobRun(int(code or 0), tuple(captured.getvalue().splitlines()))


# One in-process job at a time: a job swaps the process's environment, sys.stdout and the jobs
# module's clients while it runs, and the interpreter runs actions (and executions) in threads.
# Anything else in the process that swaps sys.stdout while the sandbox runs (click's CliRunner,
# in the tests) holds it too.
ONE_JOB = threading.Lock()


class _ThreadOutput(io.TextIOBase):
    """sys.stdout (or stderr) while a job runs: what the job's thread prints is the job's
    output; what any other thread prints (the other actions' progress) goes where it went."""

    def __init__(self, job: int, captured: io.StringIO, others: TextIO) -> None:
        self._job, self._captured, self._others = job, captured, others

    def _target(self) -> TextIO:
        return self._captured if threading.get_ident() == self._job else self._others

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()


@contextlib.contextmanager
def _environment(variables: Mapping[str, str]) -> Iterator[None]:
    """Set (or, for an empty value, unset) process environment variables for the duration."""
    saved = {name: os.environ.get(name) for name in variables}
    try:
        for name, value in variables.items():
            if value:
                os.environ[name] = value
            else:
                os.environ.pop(name, None)
        yield
    finally:
        for name, before in saved.items():
            if before is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = before


@contextlib.contextmanager
def _swapped(module: Any, attribute: str, value: Any) -> Iterator[None]:
    original = getattr(module, attribute)
    setattr(module, attribute, value)
    try:
        yield
    finally:
        setattr(module, attribute, original)
