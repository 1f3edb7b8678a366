"""Hostile configuration files: each ends in one clear problem naming the file and line, never
in a traceback, a hang or a memory blow-up (issue 12). The inputs are made here from the example,
since some (a FIFO, a file of megabytes) cannot be committed as fixtures."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest

from pipelines.config.loader import load_project
from pipelines.config.yaml_source import MAX_DEPTH, MAX_EXPANDED_BYTES, MAX_FILE_BYTES
from pipelines.errors import ConfigError
from tests.support import EXAMPLE, FIXTURES


def _copy(tmp_path: Path) -> Path:
    directory = tmp_path / "environments"
    shutil.copytree(EXAMPLE, directory)
    return directory


def _edit(directory: Path, file: str, old: str, new: str) -> None:
    path = directory / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def _problem(directory: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_project(directory)
    [problem] = caught.value.problems
    return str(problem)


class Case(NamedTuple):
    edit: Callable[[Path], None]
    file: str
    marker: bytes  # text on the line the problem must name
    message: str  # what the problem must say after the line


CASES = {
    "a tag on a list": Case(
        lambda d: _edit(d, "pipeline.yaml", "promotion: [", "promotion: !custom ["),
        "pipeline.yaml", b"promotion: !custom",
        "promotion: YAML tags are not supported (!custom)",
    ),
    "a tag on a mapping": Case(
        lambda d: _edit(d, "pipeline.yaml", "toolchain:\n", "toolchain: !!omap\n"),
        "pipeline.yaml", b"toolchain: !!omap",
        "toolchain: YAML tags are not supported (tag:yaml.org,2002:omap)",
    ),
    "a huge number in hex": Case(
        lambda d: _edit(d, "pipeline.yaml", "port: 8080", "port: 0x" + "f" * 5000),
        "pipeline.yaml", b"port: 0xfff",
        "services.web.port: a whole number this large means nothing here",
    ),
    "an account ID in Arabic-Indic digits": Case(
        lambda d: _edit(d, "prod.yaml", 'account: "333333333333"', 'account: "٣٣٣٣٣٣٣٣٣٣٣٣"'),
        "prod.yaml", b"account:",
        "account: '٣٣٣٣٣٣٣٣٣٣٣٣' is not a 12-digit AWS account ID (for example \"111111111111\")",
    ),
    "a key with terminal escapes": Case(
        lambda d: _edit(d, "pipeline.yaml", "app: shop\n", 'app: shop\n"x\\e[2Jy": 1\n'),
        "pipeline.yaml", b'"x\\e[2Jy"',
        "x\\x1b[2Jy: unknown key 'x\\x1b[2Jy' (known: app, image, images, notifications, "
        "promotion, runner, runners, services, toolchain)",
    ),
    "a byte that is not UTF-8": Case(
        lambda d: (d / "prod.yaml").write_bytes(
            (d / "prod.yaml").read_bytes().replace(b"region:", b"# caf\xe9\nregion:", 1)
        ),
        "prod.yaml", b"# caf\xe9",
        "not UTF-8: byte 0xe9 at column 6",
    ),
    "lists nested deeper than anyone writes": Case(
        lambda d: _edit(d, "pipeline.yaml", "promotion: [dev, staging, prod]",
                        "promotion: [dev, staging, prod]\nx: " + "[" * 70 + "]" * 70),
        "pipeline.yaml", b"x: [[[",
        f"x{'[0]' * (MAX_DEPTH - 1)}: nested deeper than {MAX_DEPTH} levels",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_hostile_file_gets_one_problem_with_its_file_and_line(case: str, tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    edit, file, marker, message = CASES[case]
    edit(directory)
    lines = (directory / file).read_bytes().splitlines()
    line = next(i for i, text in enumerate(lines, start=1) if marker in text)
    got = _problem(directory)
    assert got == f"{directory / file}:{line}: {message}"
    assert all(c.isprintable() for c in got), got


def test_an_environment_file_that_is_a_fifo_is_refused_without_reading_it(
    tmp_path: Path,
) -> None:
    directory = _copy(tmp_path)
    (directory / "prod.yaml").unlink()
    os.mkfifo(directory / "prod.yaml")  # opening it to read would block until a writer came
    assert _problem(directory) == f"{directory / 'prod.yaml'}: not a regular file"


def test_a_file_over_the_size_limit_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    with (directory / "prod.yaml").open("a") as handle:
        handle.write("#" * MAX_FILE_BYTES + "\n")
    assert "a configuration file may have 1,048,576" in _problem(directory)


def test_aliases_that_repeat_a_large_string_stop_at_the_byte_budget(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    big = "x" * 500_000  # half a megabyte, under the file size limit
    bomb = f"a: &a {big}\nb: &b [{', '.join(['*a'] * 40)}]\nc: [{', '.join(['*b'] * 40)}]\n"
    text = (directory / "pipeline.yaml").read_text()
    (directory / "pipeline.yaml").write_text(bomb + text)
    started = time.perf_counter()
    problem = _problem(directory)
    assert f"expands to over {MAX_EXPANDED_BYTES:,} characters" in problem
    assert time.perf_counter() - started < 10  # 800 MB of text if it were expanded


def _with_alarms(directory: Path, alarms: str) -> None:
    """prod (which bakes) watching these alarms instead of the example's one."""
    _edit(directory, "prod.yaml", "\nalarms: [shop-prod-5xx]\n", f"\n{alarms}")


def test_an_alarm_name_holding_pipeline_variable_syntax_is_refused(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    _with_alarms(directory, 'alarms: ["shop-#{codepipeline.PipelineExecutionId}"]\n')
    problem = _problem(directory)
    assert problem.endswith(
        "alarms[0]: 'shop-#{codepipeline.PipelineExecutionId}': '#{' would be read as a "
        "pipeline variable"
    ), problem


def test_two_alarms_that_would_be_one_bake_rule_are_refused(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    _with_alarms(directory, 'alarms: ["shop 5xx", "shop-5xx"]\n')
    problem = _problem(directory)
    assert "alarms[1]: 'shop-5xx' and 'shop 5xx' would both be the bake rule 'Bake-shop-5xx'" in (
        problem
    ), problem


def test_an_environment_name_too_long_for_a_file_name_is_refused_before_any_file_is_looked_up(
    tmp_path: Path,
) -> None:
    directory = _copy(tmp_path)
    _edit(
        directory,
        "pipeline.yaml",
        "promotion: [dev, staging, prod]",
        f"promotion: [dev, {'p' * 300}]",
    )
    problem = _problem(directory)
    assert problem.endswith("promotion[1]: String should have at most 32 characters"), problem


def test_more_approval_addresses_than_a_stack_can_hold_are_refused(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    addresses = ", ".join(f"u{i}@example.com" for i in range(101))
    _edit(directory, "pipeline.yaml", "approvals: [", f"approvals: [{addresses}, ")
    problem = _problem(directory)
    assert "notifications.approvals: List should have at most 100 items" in problem, problem


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("    image: release\n", '    image: ""\n', "runners.migrate.image"),
        ("--dry-run: null", '--dry-run: ""', "runners.migrate.scripts.migrate.allowed_options"),
    ],
)
def test_what_the_runner_document_could_not_read_back_is_refused_by_the_configuration(
    tmp_path: Path, old: str, new: str, key: str
) -> None:
    directory = tmp_path / "environments"
    shutil.copytree(FIXTURES / "valid" / "every-step", directory)
    _edit(directory, "pipeline.yaml", old, new)
    problem = _problem(directory)
    assert f": {key}" in problem and "String should have at least 1 character" in problem, problem


def test_a_document_the_invoker_could_not_read_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pipelines.config import runners
    from pipelines.errors import LimitError
    from pipelines.invoker.document import DocumentError
    from pipelines.synth import synthesize

    def unreadable(project: object) -> str:
        raise DocumentError("dump_document: runners.x.image: expected a non-empty string")

    monkeypatch.setattr(runners, "runners_document", unreadable)
    with pytest.raises(LimitError) as caught:
        synthesize(FIXTURES / "valid" / "every-step")
    assert caught.value.messages == [
        "the runners document cannot be read back: dump_document: runners.x.image: expected a "
        "non-empty string"
    ]
