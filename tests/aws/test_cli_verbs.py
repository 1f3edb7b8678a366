"""The AWS verbs on the command line: help with an example, no boto3 until a verb runs."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from pipelines.cli import main
from tests.aws.workspace import Workspace

VERBS = ["init", "deploy", "diff", "status", "approve", "reject", "release", "rollback"]


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help_with_an_example(verb: str) -> None:
    result = CliRunner().invoke(main, [verb, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output
    assert f"pipelines {verb}" in result.output


def test_help_does_not_load_boto3() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from pipelines.cli import main\n"
        f"for verb in {VERBS!r}:\n"
        "    assert CliRunner().invoke(main, [verb, '--help']).exit_code == 0\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_deploy_and_rollback_ask_unless_told_not_to(workspace: Workspace) -> None:
    """Without a terminal to ask on, they refuse before any AWS call (none is stubbed)."""
    deploy = workspace.run("deploy")
    assert deploy.exit_code == 2
    assert "pass --yes to run unattended" in deploy.output
    rollback = workspace.run("rollback", "prod")
    assert rollback.exit_code == 2
    assert "pass --yes to run unattended" in rollback.output
