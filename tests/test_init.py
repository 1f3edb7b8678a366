"""`pipelines init`: a starter environments/ that synthesizes and lints clean, never over files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipelines.cli import main
from pipelines.init import InitOptions, init
from pipelines.synth import synthesize
from tests.support import lint_template

FLAGS = [
    "--app",
    "notes",
    "--toolchain-account",
    "111111111111",
    "--toolchain-region",
    "eu-central-1",
    "--promotion",
    "dev,prod",
    "--account",
    "prod=333333333333",
    "--vpc",
    "vpc-0123456789abcdef0",
    "--vpc",
    "prod=vpc-0fedcba9876543210",
    "--subnets",
    "subnet-0123456789abcdef0,subnet-0123456789abcdef1",
]


def _init(directory: Path, *flags: str):
    return CliRunner().invoke(main, ["init", "--environments", str(directory), *flags])


@pytest.mark.slow
def test_init_writes_files_that_synthesize_and_lint_clean(tmp_path) -> None:
    directory = tmp_path / "environments"
    result = _init(directory, *FLAGS)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in directory.iterdir()) == [
        ".schema",
        "dev.yaml",
        "pipeline.yaml",
        "prod.yaml",
    ]
    assert 'account: "333333333333"' in (directory / "prod.yaml").read_text()
    assert "vpc: vpc-0fedcba9876543210" in (directory / "prod.yaml").read_text()
    assert "vpc: vpc-0123456789abcdef0" in (directory / "dev.yaml").read_text()

    synthesis = synthesize(directory)
    manifest = json.loads(synthesis.manifest)
    assert manifest["promotion"] == ["dev", "prod"]
    assert manifest["image"]["repository"] == "notes-web"
    findings = {
        s["file"]: lint_template(synthesis.files[s["file"]].decode(), s["region"])
        for s in manifest["stacks"]
    }
    assert findings == {s["file"]: [] for s in manifest["stacks"]}


def test_init_never_overwrites(tmp_path) -> None:
    directory = tmp_path / "environments"
    directory.mkdir()
    (directory / "pipeline.yaml").write_text("app: mine\n")
    result = _init(directory, *FLAGS)
    assert result.exit_code == 2
    assert "already exists and is not empty; init never overwrites" in result.output
    assert (directory / "pipeline.yaml").read_text() == "app: mine\n"


def test_init_without_a_terminal_names_what_is_missing(tmp_path) -> None:
    result = _init(tmp_path / "environments", "--app", "notes")
    assert result.exit_code == 2
    assert "--toolchain-account" in result.output and "--vpc dev=vpc-…" in result.output
    assert not (tmp_path / "environments").exists()


def test_init_checks_the_answers_with_synth(tmp_path) -> None:
    directory = tmp_path / "environments"
    flags = [f if f != "111111111111" else "1111" for f in FLAGS]
    result = _init(directory, *flags)
    assert result.exit_code == 2
    assert f"error: {directory}/pipeline.yaml:6: toolchain.account" in result.output
    assert not directory.exists()


def test_init_asks_for_what_the_flags_leave_out(tmp_path) -> None:
    answers = {
        "app name (2-24 of a-z, 0-9, -)": "shop",
        "toolchain account ID": "111111111111",
        "dev: VPC ID (vpc-…)": "vpc-0123456789abcdef0",
        "dev: subnet IDs, comma-separated": "subnet-0123456789abcdef0",
    }
    asked: list[str] = []

    def ask(question: str, default: str | None) -> str:
        asked.append(question)
        return answers.get(question, default or "")

    written = init(InitOptions(tmp_path / "environments", promotion="dev"), ask)
    assert {p.name for p in written} >= {"pipeline.yaml", "dev.yaml"}
    assert "toolchain region" in asked and "dev: account ID" in asked
    assert "region: eu-west-1" in (tmp_path / "environments" / "dev.yaml").read_text()
    synthesize(tmp_path / "environments")
