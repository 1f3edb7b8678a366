"""A practice session on `pipelines sandbox`, as a new user would run it: the verbs of the command
line, unchanged, against the sandbox's endpoint and the toolchain credentials it hands out.

Four accounts: the toolchain (the repository and the pipeline), dev, staging and prod each in
its own. The sandbox runs in this process on a free port; every verb goes through click with
the environment the sandbox's export lines set, and every step is checked with
`pipelines status --output json`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from pipelines.cli import main
from pipelines.local.steps import ONE_JOB
from tests.support import FIXTURES

FOUR_ACCOUNTS = FIXTURES / "sandbox" / "four-accounts"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning"),
    pytest.mark.filterwarnings("ignore:No Moto CloudFormation support"),
]


class Shell:
    """A second terminal with the sandbox's export lines pasted into it."""

    def __init__(self, exports: list[str], templates: Path) -> None:
        self.env: dict[str, str | None] = {"AWS_SESSION_TOKEN": None, "AWS_PROFILE": None}
        for line in exports:
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").partition("=")
                self.env[name] = value
        self.templates = str(templates)

    def run(self, *args: str) -> Result:
        # CliRunner swaps sys.stdout, as an in-process job of the sandbox does: not both at once.
        with ONE_JOB:
            return CliRunner().invoke(main, list(args), env=self.env)

    def status(self) -> dict[str, Any]:
        result = self.run("status", "--templates", self.templates, "--output", "json")
        assert result.exit_code == 0, result.output
        document: dict[str, Any] = json.loads(result.output)
        return document

    def digests(self) -> dict[str, str]:
        """Environment -> the digest its one service runs."""
        found = {}
        for env in self.status()["environments"]:
            [service] = env["services"]
            found[env["name"]] = service["digest"]
        return found

    def pending(self) -> dict[str, str]:
        """Environment -> the digest its pending approval promotes."""
        return {
            env["name"]: env["pending_approval"]["digest"]
            for env in self.status()["environments"]
            if env["pending_approval"]
        }

    def until(self, what: str, check: Callable[[], bool], seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while not check():
            assert time.monotonic() < deadline, f"never: {what}; status: {self.status()}"
            time.sleep(0.2)

    def push(self) -> str:
        result = self.run("sandbox", "push", "--templates", self.templates)
        assert result.exit_code == 0, result.output
        return result.output.splitlines()[0]

    def decide(self, verb: str, env: str, digest: str) -> Result:
        return self.run(verb, env, "--digest", digest, "--templates", self.templates)


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[tuple[Shell, str]]:
    from pipelines.local.sandbox import SandboxOptions, open_sandbox

    # `pipelines sandbox --minute 0.05`: every pipeline waits its bakes at that scale.
    options = SandboxOptions(FOUR_ACCOUNTS, tmp_path / "templates", minute_seconds=0.05)
    with open_sandbox(options) as sandbox:
        accounts = {e.account for e in sandbox.manifest.stacks}
        assert len(accounts) == 4, accounts
        timings = {i.timing.bake_seconds_per_minute for i in sandbox.interpreters.values()}
        assert timings == {0.05}
        yield Shell(sandbox.exports(), tmp_path / "templates"), sandbox.bootstrap


def test_a_practice_session_push_approve_release_rollback_reject_run(
    shell: tuple[Shell, str],
) -> None:
    me, bootstrap = shell
    assert me.digests() == dict.fromkeys(("dev", "staging", "prod"), bootstrap)
    caller = me.run("status", "--templates", me.templates)
    assert caller.exit_code == 0 and "no approval pending" in caller.output

    # A push of the release tag starts a release: dev gets it, staging waits for a person.
    first = me.push()
    me.until("staging waits for the first push", lambda: me.pending() == {"staging": first})
    assert me.digests() == {"dev": first, "staging": bootstrap, "prod": bootstrap}

    # Approving another digest than the one pending is refused, with exit status 3.
    refused = me.decide("approve", "staging", bootstrap)
    assert refused.exit_code == 3, refused.output
    assert f"which promotes {first}, not {bootstrap}" in refused.output
    assert me.pending() == {"staging": first}

    # Approvals up to prod.
    assert me.decide("approve", "staging", first).exit_code == 0
    me.until("prod waits", lambda: me.pending() == {"prod": first})
    assert me.digests()["staging"] == first
    assert me.decide("approve", "prod", first).exit_code == 0
    me.until("prod runs the first push", lambda: me.digests()["prod"] == first)
    assert me.pending() == {}

    # A second push, all the way.
    second = me.push()
    me.until("staging waits for the second", lambda: me.pending() == {"staging": second})
    assert me.decide("approve", "staging", second).exit_code == 0
    me.until("prod waits for the second", lambda: me.pending() == {"prod": second})
    assert me.decide("approve", "prod", second).exit_code == 0
    me.until("prod runs the second", lambda: me.digests()["prod"] == second)

    # `release` of the older digest: dev gets it again, staging waits; reject it there.
    released = me.run("release", "--digest", first[:19], "--templates", me.templates)
    assert released.exit_code == 0, released.output
    me.until("staging waits for the release", lambda: me.pending() == {"staging": first})
    assert me.digests() == {"dev": first, "staging": second, "prod": second}
    rejected = me.decide("reject", "staging", first)
    assert rejected.exit_code == 0, rejected.output
    me.until("nothing pending after the rejection", lambda: me.pending() == {})
    assert me.digests() == {"dev": first, "staging": second, "prod": second}
    staging = next(e for e in me.status()["environments"] if e["name"] == "staging")
    assert staging["execution"]["status"] == "Failed"

    # `rollback prod`: back to the image prod ran before, now, outside the pipeline.
    rolled = me.run("rollback", "prod", "--yes", "--templates", me.templates)
    assert rolled.exit_code == 0, rolled.output
    assert me.digests() == {"dev": first, "staging": second, "prod": first}

    # `run`: a runner script, admitted by the invoker's allow-list; a refused one exits 2.
    runners = str(Path(me.templates) / "runners.json")
    image = f"111111111111.dkr.ecr.eu-west-1.amazonaws.com/shop-web@{first}"
    ran = me.run(
        "run", "migrate", "migrate", "--env", "staging", "--image", image, "--runners", runners
    )
    assert ran.exit_code == 0, ran.output
    assert "stood in: migrate.migrate not run by the sandbox" in ran.output
    refused_run = me.run("run", "migrate", "drop-tables", "--env", "staging", "--runners", runners)
    assert refused_run.exit_code == 2, refused_run.output
    assert me.digests() == {"dev": first, "staging": second, "prod": first}
