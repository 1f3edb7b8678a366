"""A step's `on_rollback`: a step may be a mapping with its text under `run`; `skip` keeps a stage
rollback from running it again. Bad input is one problem naming the file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.config.loader import load_project
from pipelines.config.runners import environment_steps
from pipelines.errors import ConfigError
from tests.config.editing import Edits, edited_example

MIGRATE = "    - migrate.migrate\n"
# A runner on CodeBuild, for the one runner kind that cannot skip rollbacks.
SMOKE_RUNNER = (
    "runners:\n"
    "  smoke:\n"
    "    on: codebuild\n"
    "    image: public.ecr.aws/docker/library/python:3.12\n"
    "    scripts:\n"
    "      check:\n"
    "        command: [./check]\n"
)


def _step(*lines: str) -> Edits:
    """staging.yaml's migrate step written as `lines` (each a line of the step's mapping)."""
    body = "    - " + "\n      ".join(lines) + "\n"
    return {"staging.yaml": [(MIGRATE, body)]}


def _staging_steps(tmp_path: Path, edits: Edits) -> list[tuple[str, str]]:
    project = load_project(edited_example(tmp_path / "environments", edits))
    [staging] = [e for e in project.environments if e.name == "staging"]
    return [(s.action, s.on_rollback) for s in environment_steps(project, staging)]


@pytest.mark.parametrize(
    ("edits", "expected"),
    [
        ({}, [("migrate.migrate", "run")]),  # a plain step runs on rollbacks, as before
        (_step("run: migrate.migrate", "on_rollback: skip"), [("migrate.migrate", "skip")]),
        (_step("run: migrate.migrate", "on_rollback: run"), [("migrate.migrate", "run")]),
        (_step("run: migrate.migrate"), [("migrate.migrate", "run")]),
    ],
    ids=["plain", "skip", "run", "mapping-default"],
)
def test_a_steps_on_rollback_setting(
    tmp_path: Path, edits: Edits, expected: list[tuple[str, str]]
) -> None:
    assert _staging_steps(tmp_path, edits) == expected


@pytest.mark.parametrize(
    ("edits", "line", "key", "message"),
    [
        (
            _step("run: migrate.migrate", "on_rollback: sometimes"),
            "on_rollback: sometimes",
            "steps.before_deploy[0].on_rollback",
            "Input should be 'run' or 'skip'",
        ),
        (
            _step("run: migrate.migrate", "on_rolback: skip"),
            "on_rolback: skip",
            "steps.before_deploy[0].on_rolback",
            "unknown key 'on_rolback'",
        ),
        (
            _step("on_rollback: skip"),
            "on_rollback: skip",
            "steps.before_deploy[0].run",
            "missing required key",
        ),
        (
            _step("run: migrate.drop", "on_rollback: skip"),
            "run: migrate.drop",
            "steps.before_deploy[0]",
            "refused by the allow-list: runner 'migrate' has no script 'drop'",
        ),
        (
            {
                "pipeline.yaml": [("runners:\n", SMOKE_RUNNER)],
                "staging.yaml": [
                    (MIGRATE, MIGRATE + "    - run: smoke.check\n      on_rollback: skip\n")
                ],
            },
            "on_rollback: skip",
            "steps.before_deploy[1].on_rollback",
            "smoke runs on CodeBuild, and only the invoker (ECS runners) checks whether an "
            "execution is a stage rollback",
        ),
    ],
    ids=["bad-value", "misspelt-key", "no-run", "refused-step", "codebuild"],
)
def test_a_bad_on_rollback_setting_is_one_problem_naming_file_line_and_key(
    tmp_path: Path, edits: Edits, line: str, key: str, message: str
) -> None:
    directory = edited_example(tmp_path / "environments", edits)
    with pytest.raises(ConfigError) as raised:
        load_project(directory)
    [problem] = raised.value.problems
    staging = directory / "staging.yaml"
    assert problem.file.name == "staging.yaml"
    expected_line = next(
        n for n, text in enumerate(staging.read_text().splitlines(), 1) if line in text
    )
    assert (problem.line, problem.key) == (expected_line, key)
    assert problem.message.startswith(message), problem.message
