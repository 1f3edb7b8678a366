"""Patterns a user-written runner may give its scripts: those that backtrack on a crafted
argument are refused at synth, with the file, line and key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipelines.config.backtracking import backtracking_problem
from pipelines.config.loader import load_project
from pipelines.errors import ConfigError
from tests.support import FIXTURES

NESTED = "a repeated group holds a repetition or an alternation"
IN_A_ROW = "long repetitions (*, +, {n,}) in a row"


@pytest.mark.parametrize(
    ("pattern", "refused"),
    [
        ("(a+)+$", NESTED),  # exponential
        ("(a|ab)*c", NESTED),  # exponential: overlapping alternatives under a repetition
        ("([a-z]+)*", NESTED),
        (r"(?:[a-z]{1,5}\.)+", NESTED),
        (r"(\d{1,3}\.){3}", NESTED),  # a count over 1 repeats the group too
        ("a*a*a*$", f"3 {IN_A_ROW}"),  # n^3 steps on a token of 1,024 characters
        ("[(]+[)]+x+", f"3 {IN_A_ROW}"),
        ("[a-z]+-[0-9]+", None),
        ("https://[a-z0-9.-]+/[a-z0-9/_-]*", None),
        ("[0-9]{1,6}", None),
        ("(?:ab)+", None),  # a repeated group of fixed text cannot backtrack
        ("(?:/x+)?", None),  # an optional group is not repeated
        ("a+|b+|c+", None),  # alternatives are separate paths
        (r"[(+*]{1,16}\{2,\}", None),  # quantifier characters in a class or escaped
    ],
)
def test_a_pattern_is_refused_only_for_a_shape_that_backtracks(
    pattern: str, refused: str | None
) -> None:
    problem = backtracking_problem(pattern)
    assert (problem is None) == (refused is None), problem
    if refused:
        assert problem is not None and problem.startswith(refused)


def test_a_user_runner_with_a_nested_quantifier_is_refused_with_file_line_and_key(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "environments"
    shutil.copytree(FIXTURES / "valid" / "every-step", directory)
    pipeline = directory / "pipeline.yaml"
    text = pipeline.read_text()
    assert '--target: "[0-9]{1,6}"' in text
    pipeline.write_text(text.replace('--target: "[0-9]{1,6}"', '--target: "([0-9]+)+x"'))
    with pytest.raises(ConfigError) as caught:
        load_project(directory)
    [problem] = caught.value.problems
    line = next(i for i, t in enumerate(pipeline.read_text().splitlines(), 1) if "([0-9]+)+x" in t)
    assert str(problem) == (
        f"{pipeline}:{line}: runners.migrate.scripts.migrate.allowed_options.--target: pattern "
        f"'([0-9]+)+x': {NESTED}, which can backtrack on a crafted argument"
    )
