"""The sandbox session docs/sandbox.md and docs/teardown.md quote, run for real.

One `pipelines sandbox` of the example serves the whole session, and every command of it runs
as a user would type it in a second shell: `python -m pipelines ...` in a subprocess, with the
exports the sandbox printed. The quoted blocks are cut from that one transcript, because each
command acts on what the earlier ones left (a release to reject, stacks to prune, an app to
destroy). A command is typed only when the state it is quoted in has been reached (read from
`pipelines status --output json`), so a block does not depend on how fast the machine is.

What varies from run to run (ports, keys, digests, IDs, times) is normalised over the whole
transcript at once, so that a digest or an execution keeps one stand-in across blocks.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from tests.support import ROOT

STARTUP_SECONDS = 600
WAIT_SECONDS = 300
# A second service, built from the same image, deployed and then taken out of the YAML again:
# the stacks `diff` and `deploy --prune` find.
WORKER = """\
  worker:
    cpu: 256
    memory: 512
    command: [python, worker.py]
"""


class Session:
    """A `pipelines sandbox` in a scratch copy of the example, and a shell pointed at it."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.blocks: dict[str, list[str]] = {}
        self.printed: list[str] = []  # everything every command printed, quoted or not
        self._env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
        self._server = subprocess.Popen(
            # A minute lasts a second, so that a canary's 15-minute step is there to be seen.
            [sys.executable, "-m", "pipelines", "sandbox", "--port", "0", "--minute", "1"],
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=self._env,
        )
        self.exports = self._read_exports()
        for line in self.exports:
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").partition("=")
                self._env[name] = value
            elif line.startswith("unset "):
                for name in line.split()[1:]:
                    self._env.pop(name, None)

    def _read_exports(self) -> list[str]:
        assert self._server.stdout is not None
        deadline = time.monotonic() + STARTUP_SECONDS
        seen: list[str] = []
        exports: list[str] = []
        for line in self._server.stdout:
            seen.append(line)
            if "the sandbox serves" in line or exports:
                exports.append(line.rstrip("\n"))
            if line.startswith("export AWS_DEFAULT_REGION="):
                return exports
            if time.monotonic() > deadline:
                break
        self.close()
        raise AssertionError("the sandbox did not start:\n" + "".join(seen[-40:]))

    def close(self) -> None:
        if self._server.poll() is None:
            self._server.send_signal(signal.SIGINT)
            try:
                self._server.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                self._server.kill()
                self._server.communicate()

    def run(self, *args: str) -> tuple[int, str]:
        result = subprocess.run(
            [sys.executable, "-m", "pipelines", *args],
            cwd=self.workdir,
            capture_output=True,
            text=True,
            env=self._env,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        self.printed.append(result.stdout + result.stderr)
        return result.returncode, result.stdout + result.stderr

    def type(self, block: str, *args: str, exit_status: int = 0) -> str:
        """Run `pipelines ARGS` and quote it in `block`, as typed and as printed."""
        code, output = self.run(*args)
        if code != exit_status:
            raise AssertionError(f"pipelines {' '.join(args)} exited {code}:\n{output}")
        self.blocks.setdefault(block, []).append(
            f"$ pipelines {' '.join(args)}\n{output.rstrip()}\n[exit {code}]\n"
        )
        return output

    def quiet(self, *args: str) -> str:
        """Run `pipelines ARGS` without quoting it; it must succeed."""
        code, output = self.run(*args)
        if code != 0:
            raise AssertionError(f"pipelines {' '.join(args)} exited {code}:\n{output}")
        return output

    def status(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.quiet("status", "--output", "json"))
        return document

    def wait_until(self, what: str, reached: Callable[[dict[str, Any]], bool]) -> None:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            document = self.status()
            if reached(document):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {WAIT_SECONDS} s for {what}:\n{document}")
            time.sleep(0.5)

    def edit(self, file: str, old: str, new: str) -> None:
        path = self.workdir / "environments" / file
        text = path.read_text(encoding="utf-8")
        if old not in text:
            raise AssertionError(f"{old!r} is no longer in environments/{file}")
        path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _environment(document: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(e for e in document["environments"] if e["name"] == name)
    return found


def approval_pending(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda document: _environment(document, name)["pending_approval"] is not None


def released_to(name: str, digest: str) -> Callable[[dict[str, Any]], bool]:
    """Every service of environment `name` runs `digest` and its stage's execution ended."""

    def reached(document: dict[str, Any]) -> bool:
        environment = _environment(document, name)
        execution = environment["execution"] or {}
        return execution.get("status") == "Succeeded" and all(
            service["digest"] == digest for service in environment["services"]
        )

    return reached


def stage_ended(name: str, status: str) -> Callable[[dict[str, Any]], bool]:
    def reached(document: dict[str, Any]) -> bool:
        execution = _environment(document, name)["execution"] or {}
        return execution.get("status") == status

    return reached


def canary_at(name: str, percent: float) -> Callable[[dict[str, Any]], bool]:
    """A service of environment `name` is in its canary step, `percent` % on the new revision."""

    def reached(document: dict[str, Any]) -> bool:
        return any(
            (service.get("deployment") or {}).get("phase") == "PRODUCTION_TRAFFIC_SHIFT"
            and (service["deployment"].get("production_percent") or 0) == percent
            for service in _environment(document, name)["services"]
        )

    return reached


def pushed_digest(output: str) -> str:
    match = re.search(r"^(sha256:[0-9a-f]{64})$", output, re.M)
    if match is None:
        raise AssertionError(f"`sandbox push` printed no digest:\n{output}")
    return match.group(1)


def release_all_the_way(session: Session, block: str | None) -> str:
    """Push the release tag, approve staging and prod, wait until prod runs the digest."""
    say = (lambda *args: session.type(block, *args)) if block else session.quiet
    digest = pushed_digest(say("sandbox", "push"))
    session.wait_until("the approval in staging", approval_pending("staging"))
    if block:
        say("status")
    say("approve", "staging", "--digest", digest)
    session.wait_until("the approval in prod", approval_pending("prod"))
    say("approve", "prod", "--digest", digest)
    if block:
        session.wait_until("the canary step in prod", canary_at("prod", 10))
        session.type("sandbox-canary", "status")
    session.wait_until(f"prod to run {digest}", released_to("prod", digest))
    if block:
        say("status")
    return digest


def script(session: Session) -> None:
    """The session the docs quote, command by command."""
    first = release_all_the_way(session, "sandbox-release")
    release_all_the_way(session, None)

    s = session
    s.type("sandbox-release-again", "release", "--digest", first[:19])
    s.wait_until("the approval in staging", approval_pending("staging"))
    s.type("sandbox-release-again", "status")
    s.type("sandbox-release-again", "reject", "staging", "--digest", first)
    s.wait_until("staging's stage to fail", stage_ended("staging", "Failed"))
    s.type("sandbox-release-again", "rollback", "prod", "--yes")
    s.type("sandbox-release-again", "status")

    image = f"111111111111.dkr.ecr.eu-west-1.amazonaws.com/shop-web@{first}"
    s.type("sandbox-run", "run", "migrate", "migrate", "--env", "staging", "--image", image)
    s.type(
        "sandbox-run",
        *("run", "plan", "plan", "--env", "prod", "--stack", "shop-prod-web"),
        *("--template", "templates/shop-prod-web.json", "--change-set", "sandbox-preview"),
        *("--role-arn", "arn:aws:iam::333333333333:role/shop-prod-cfn"),
    )

    # A worker service deployed, then taken out of the YAML again.
    s.edit("pipeline.yaml", "notifications:", WORKER + "notifications:")
    s.quiet("synth", "--quiet")
    s.quiet("deploy", "--yes", "--bootstrap-image", image)
    s.edit("pipeline.yaml", WORKER, "")
    s.quiet("synth", "--quiet")
    s.type("prune", "diff", exit_status=1)
    s.type("prune", "deploy", "--yes")
    s.type("prune", "deploy", "--yes", "--prune")

    s.type("destroy-env", "destroy", "--env", "dev", exit_status=2)
    s.type("destroy-app", "destroy", "--yes")


# Event lines of a command that deletes or deploys several stacks at once arrive in an order
# that varies from run to run; a run of them that names more than one stack is quoted as "...".
STACK_EVENT = re.compile(r"^  (\S+)  (EXECUTING|DELETING|[A-Z_]+_(IN_PROGRESS|COMPLETE|FAILED))\b")


def fold_events(text: str) -> str:
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        stacks = {m.group(1) for line in run if (m := STACK_EVENT.match(line))}
        out.extend(["  ..."] if len(stacks) > 1 else run)
        run.clear()

    for line in text.split("\n"):
        if STACK_EVENT.match(line):
            run.append(line)
            continue
        flush()
        out.append(line)
    flush()
    return "\n".join(out)


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def normalise(text: str, workdir: Path, printed: str) -> str:
    from tests.doc_outputs import normalise as normalise_output

    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:4580", text)
    text = re.sub(r"AWS_ACCESS_KEY_ID=\S+", "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", text)
    text = re.sub(
        r"AWS_SECRET_ACCESS_KEY=\S+",
        "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        text,
    )
    text = re.sub(r"\b\d{4}-\d\d-\d\d \d\d:\d\d UTC\b", "2026-12-02 15:41 UTC", text)
    text = re.sub(r"\b(pipelines-rollback-)\d{8}-\d{6}\b", r"\g<1>20261202-154211", text)
    return normalise_output(text, workdir, ids=UUID.findall(printed))


@contextmanager
def _session() -> Iterator[Session]:
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        shutil.copytree(ROOT / "environments", workdir / "environments")
        session = Session(workdir)
        try:
            yield session
        finally:
            session.close()


@cache
def transcript() -> dict[str, str]:
    """Every quoted block of the session, by name, normalised together."""
    with _session() as session:
        session.blocks["sandbox-exports"] = ["\n".join(session.exports) + "\n"]
        script(session)
        workdir = session.workdir
    separator = "\n<<<block {}>>>\n"
    joined = "".join(
        separator.format(name) + "\n".join(parts) for name, parts in session.blocks.items()
    )
    normalised = fold_events(normalise(joined, workdir, "".join(session.printed)))
    pieces = re.split(r"\n<<<block ([a-z-]+)>>>\n", normalised)
    return {name: body for name, body in zip(pieces[1::2], pieces[2::2], strict=True)}
