"""The gatekeeper: a run request is admitted only if it fits a runner's allow-list exactly.

Pure functions, no AWS and no pydantic at run time: the invoker Lambda, the CLI and synth (to
check pipeline steps) all call `admit` and so refuse exactly the same things. Jobs get an argv
list, never a shell string, so shell metacharacters are only text; the rules below still refuse
anything the allow-list does not spell out, so that a script never sees an option, a value or a
positional argument its author did not expect.
"""

from __future__ import annotations

import json
import re
import shlex
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipelines import patterns
from pipelines.aws_facts import fargate_pair_problem
from pipelines.invoker import names

MAX_ARGS = 64
MAX_TOKEN = 1024
# ECS caps a run_task `overrides` document at 8 KiB; leave room for the environment variables.
MAX_ARGV_CHARS = 6144
# `#{Namespace.Name}`: a CodePipeline variable, resolved before the invoker sees the request.
VARIABLE = patterns.VARIABLE
ENVIRONMENT_NAME = re.compile(names.ENVIRONMENT_NAME_PATTERN)
REQUEST_KEYS = frozenset(
    {"runner", "script", "args", "environment", "cpu", "memory", "max_wait_minutes", "image"}
)
# The image a `release` runner runs: registry/repository pinned by digest, nothing else. Which
# repository is checked against runners.json by the invoker (tasks.check_release_image).
IMAGE_BY_DIGEST = re.compile(
    r"[A-Za-z0-9.-]+(?::[0-9]{1,5})?/[a-z0-9]+(?:(?:[._-]|__|/)[a-z0-9]+)*@" + patterns.DIGEST
)
# Characters that render like '-' but are not: a caller pasting `—stack` from a chat window
# would otherwise have it read as a positional argument.
_DASH_LIKE = frozenset("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d\u2043\u02d7")


# Read-only members (properties): a frozen model or dataclass matches them, and a field may be
# narrower than the member (a list for a Sequence, a Literal for a str).
class ScriptLike(Protocol):
    @property
    def command(self) -> Sequence[str]: ...
    @property
    def options(self) -> Sequence[str]: ...
    @property
    def allowed_options(self) -> Mapping[str, str | None]: ...
    @property
    def positional(self) -> bool: ...
    @property
    def positional_pattern(self) -> str: ...


class RunnerLike(Protocol):
    """What admit reads of a runner: `RunnerSpec`, or the invoker's pydantic-free copy of it."""

    @property
    def on(self) -> str: ...
    @property
    def cpu(self) -> int: ...
    @property
    def memory(self) -> int: ...
    @property
    def max_wait_minutes(self) -> int: ...
    @property
    def scripts(self) -> Mapping[str, ScriptLike]: ...


class Refused(ValueError):
    """A request the allow-list does not admit. `reason` is one line, safe to show and log."""

    def __init__(self, reason: str) -> None:
        # One line whatever went in: a reason ends up in a CodePipeline failure and in logs.
        self.reason = "".join(c if c.isprintable() else " " for c in reason)
        super().__init__(self.reason)


@dataclass(frozen=True)
class RunRequest:
    runner: str
    script: str
    args: tuple[str, ...] = ()
    cpu: int | None = None
    memory: int | None = None
    max_wait_minutes: int | None = None


@dataclass(frozen=True)
class Admitted:
    runner: str
    script: str
    on: str
    argv: tuple[str, ...]
    cpu: int
    memory: int
    max_wait_minutes: int
    # Tokens whose allow-list check waits for run time, because they hold `#{...}` variables
    # (only when admit is called with allow_variables, i.e. by synth).
    deferred: tuple[str, ...] = field(default=())


def admit(
    runners: Mapping[str, RunnerLike], request: RunRequest, *, allow_variables: bool = False
) -> Admitted:
    """The exact job a request may start, or Refused naming the first thing wrong with it.

    `allow_variables` is for synth: a value holding a `#{Namespace.Name}` variable cannot be
    checked against its pattern until CodePipeline resolves it, so it is deferred; the invoker
    admits the resolved request again with the full check.
    """
    runner = runners.get(request.runner) if isinstance(request.runner, str) else None
    if runner is None:
        known = ", ".join(sorted(runners)) or "none"
        raise Refused(f"unknown runner {_show(request.runner)}; known runners: {known}")
    script = runner.scripts.get(request.script) if isinstance(request.script, str) else None
    if script is None:
        known = ", ".join(sorted(runner.scripts))
        raise Refused(
            f"runner {request.runner!r} has no script {_show(request.script)}; its scripts: {known}"
        )
    name = f"{request.runner}.{request.script}"
    cpu, memory = _size(runner, request)
    max_wait = _max_wait(runner, request)
    args = _tokens(request.args)
    options, positionals, deferred = _parse(name, script, args, allow_variables)
    argv = (*script.command, *script.options, *options, *positionals)
    if len(json.dumps(argv)) > MAX_ARGV_CHARS:
        raise Refused(f"the command line is longer than {MAX_ARGV_CHARS} characters")
    return Admitted(
        runner=request.runner,
        script=request.script,
        on=runner.on,
        argv=argv,
        cpu=cpu,
        memory=memory,
        max_wait_minutes=max_wait,
        deferred=tuple(deferred),
    )


def parse_step(step: str) -> RunRequest:
    """`runner.script --opt v` (a pipeline step, shell-quoted) as a RunRequest.

    The step is split like a shell would split it, but nothing else of a shell applies: `;`,
    `$(...)` and the like stay inside tokens, where admit refuses them.
    """
    if not isinstance(step, str) or not step.strip():
        raise Refused("a step is `runner.script` followed by its arguments")
    bad = _control(step)
    if bad is not None:
        raise Refused(f"the step contains a control character ({bad})")
    try:
        tokens = shlex.split(step, comments=False, posix=True)
    except ValueError as error:
        raise Refused(f"cannot split the step like a shell would: {error}") from None
    head, *args = tokens
    runner, dot, script = head.partition(".")
    if not dot or not runner or not script:
        raise Refused(f"a step starts with runner.script, not {_show(head)}")
    return RunRequest(runner=runner, script=script, args=tuple(args))


def request_from_json(data: Any) -> tuple[RunRequest, str | None, str | None]:
    """A request, its environment and its image from the JSON the invoker gets, checking every
    type.

    JSON from a pipeline definition or a direct invocation is untrusted input: a string where a
    list is expected (a shell command line) or a number as text is refused, not coerced. `image`
    (for runners of the release image) must be `registry/repository@sha256:<64 lowercase hex>`.
    """
    if not isinstance(data, dict):
        raise Refused("the request must be a JSON object")
    unknown = sorted(set(data) - REQUEST_KEYS)
    if unknown:
        keys = ", ".join(_show(k) for k in unknown)
        raise Refused(f"unknown request keys: {keys}; known: {', '.join(sorted(REQUEST_KEYS))}")
    for key in ("runner", "script"):
        if not isinstance(data.get(key), str):
            raise Refused(f"{key} must be a string")
    args = data.get("args", [])
    if not isinstance(args, list):
        raise Refused("args must be a list of strings (argv tokens), not a shell string")
    sizes: dict[str, int | None] = {}
    for key in ("cpu", "memory", "max_wait_minutes"):
        value = data.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise Refused(f"{key} must be a whole number")
        sizes[key] = value
    environment = data.get("environment")
    if environment is not None:
        check_environment(environment)
    image = data.get("image")
    if image is not None and (not isinstance(image, str) or not IMAGE_BY_DIGEST.fullmatch(image)):
        raise Refused(
            f"image {_show(image)} is not registry/repository@sha256:<64 lowercase hex digits>"
        )
    request = RunRequest(
        runner=data["runner"], script=data["script"], args=tuple(_tokens(args)), **sizes
    )
    return request, environment, image


def check_environment(name: Any, known: Sequence[str] | None = None) -> str:
    """An environment name as the job will see it; refused unless it is a plain name (and known)."""
    if not isinstance(name, str) or not ENVIRONMENT_NAME.fullmatch(name):
        raise Refused(f"environment {_show(name)} is not a name like prod")
    if known is not None and name not in known:
        raise Refused(f"unknown environment {name!r}; known: {', '.join(known) or 'none'}")
    return name


def _size(runner: RunnerLike, request: RunRequest) -> tuple[int, int]:
    cpu = runner.cpu if request.cpu is None else request.cpu
    memory = runner.memory if request.memory is None else request.memory
    for label, value, limit in (("cpu", cpu, runner.cpu), ("memory", memory, runner.memory)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise Refused(f"{label} must be a positive whole number, not {_show(value)}")
        if value > limit:
            raise Refused(
                f"{label} {value} is above the maximum of {limit} for runner {request.runner!r}"
            )
    if runner.on == "ecs":
        problem = fargate_pair_problem(cpu, memory)
        if problem:
            raise Refused(problem)
    return cpu, memory


def _max_wait(runner: RunnerLike, request: RunRequest) -> int:
    wait = request.max_wait_minutes
    if wait is None:
        return runner.max_wait_minutes
    if isinstance(wait, bool) or not isinstance(wait, int) or wait < 1:
        raise Refused(f"max wait must be a positive number of minutes, not {_show(wait)}")
    if wait > runner.max_wait_minutes:
        raise Refused(
            f"max wait of {wait} minutes is above the maximum of {runner.max_wait_minutes} "
            f"for runner {request.runner!r}"
        )
    return wait


def _tokens(args: Any) -> list[str]:
    """The arguments, each checked on its own before any is read as an option or a value."""
    if isinstance(args, str) or not isinstance(args, (list, tuple)):
        raise Refused("args must be a list of strings (argv tokens), not a shell string")
    if len(args) > MAX_ARGS:
        raise Refused(f"too many arguments: {len(args)}, at most {MAX_ARGS}")
    for position, token in enumerate(args, start=1):
        if not isinstance(token, str):
            raise Refused(f"argument {position} is not a string: {_show(token)}")
        if len(token) > MAX_TOKEN:
            raise Refused(f"argument {position} is longer than {MAX_TOKEN} characters")
        bad = _control(token)
        if bad is not None:
            raise Refused(
                f"argument {position} {_show(token)} contains a control character ({bad}); "
                "refused whatever the allow-list says"
            )
        if token[:1] in _DASH_LIKE:
            raise Refused(
                f"argument {position} {_show(token)} starts with "
                f"{unicodedata.name(token[0], 'a dash')}, a look-alike of '-'; type a plain '-'"
            )
    return list(args)


def _parse(
    name: str, script: ScriptLike, args: list[str], allow_variables: bool
) -> tuple[list[str], list[str], list[str]]:
    """The caller's options (as `--name`, `value` pairs, in order) and positional arguments."""
    always = {_option_name(token) for token in script.options if token.startswith("-")}
    allowed = dict(script.allowed_options)
    options: list[str] = []
    positionals: list[str] = []
    deferred: list[str] = []
    pending = list(args)
    while pending:
        token = pending.pop(0)
        if token == "--":
            raise Refused(
                "'--' (end of options) is not accepted; positional arguments need no marker"
            )
        if token == "-":
            raise Refused("a bare '-' (standard input) is not accepted")
        if not token.startswith("-"):
            _positional(name, script, token, positionals, deferred, allow_variables)
            continue
        option, has_inline, inline = _split_option(token)
        if _option_name(token) in always:
            raise Refused(
                f"option {_show(_option_name(token))} is always passed by {name} and may not be "
                "repeated or overridden"
            )
        if option not in allowed:
            kind = "option" if option.startswith("--") else "short option"
            known = ", ".join(sorted(allowed)) or "none"
            raise Refused(f"{kind} {_show(option)} is not allowed for {name}; allowed: {known}")
        pattern = allowed[option]
        if pattern is None:
            if has_inline:
                raise Refused(f"option {option} is a flag and takes no value")
            options.append(option)
            continue
        if has_inline:
            value = inline
        elif pending:
            value = pending.pop(0)
        else:
            raise Refused(f"option {option} needs a value")
        _value(option, pattern, value, deferred, allow_variables)
        options.extend((option, value))
    return options, positionals, deferred


def _split_option(token: str) -> tuple[str, bool, str]:
    # `--name=value`, and Go-style `-name=value`; but `-n=5` stays one (unknown) short option,
    # as getopt and argparse would read it as `-n` with the value `=5`.
    option, eq, value = token.partition("=")
    if eq and (token.startswith("--") or len(option) > 2):
        return option, True, value
    return token, False, ""


def _option_name(token: str) -> str:
    # An always-passed `-color=false` (Go style) still reserves `-color`.
    return token.partition("=")[0]


def _value(
    option: str, pattern: str, value: str, deferred: list[str], allow_variables: bool
) -> None:
    # The value becomes a token of its own after the option; one starting with '-' would be
    # read by the script as another option (`--target=--destroy` smuggling `--destroy`).
    if value.startswith("-"):
        raise Refused(
            f"value {_show(value)} of option {option} starts with '-'; "
            "the script would read it as an option"
        )
    if allow_variables and VARIABLE.search(value):
        deferred.append(value)
        return
    if not re.fullmatch(pattern, value):
        raise Refused(
            f"value {_show(value)} of option {option} does not match its pattern {pattern!r}"
        )


def _positional(
    name: str,
    script: ScriptLike,
    token: str,
    positionals: list[str],
    deferred: list[str],
    allow_variables: bool,
) -> None:
    if not script.positional:
        raise Refused(f"{name} takes no positional arguments, got {_show(token)}")
    if allow_variables and VARIABLE.search(token):
        deferred.append(token)
    elif not re.fullmatch(script.positional_pattern, token):
        raise Refused(
            f"positional argument {_show(token)} does not match its pattern "
            f"{script.positional_pattern!r}"
        )
    positionals.append(token)


def _control(text: str) -> str | None:
    """The first control, format, private or line-breaking character of text, as U+XXXX."""
    for char in text:
        category = unicodedata.category(char)
        if category[0] == "C" or category in ("Zl", "Zp"):
            return f"U+{ord(char):04X}"
    return None


def _show(value: Any, limit: int = 60) -> str:
    """A value quoted for a one-line reason: control characters escaped, long text cut."""
    if isinstance(value, str):
        return repr(value[:limit]) + ("..." if len(value) > limit else "")
    return repr(value)[:limit]
