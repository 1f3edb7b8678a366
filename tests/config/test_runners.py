"""The runners and steps derived from a project: worked out once per project, read many times."""

from __future__ import annotations

import pytest

from pipelines.config import runners
from pipelines.config.loader import load_project
from tests.support import EXAMPLE


def test_the_allow_list_is_worked_out_once_per_project(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = runners.builtin_context
    monkeypatch.setattr(runners, "builtin_context", lambda *args: calls.append(args) or real(*args))
    project = load_project(EXAMPLE)
    calls.clear()  # the loader's own checks asked already
    first = runners.allow_list(project)
    for env in project.environments:
        runners.environment_steps(project, env)
    assert runners.allow_list(project) is first and calls == []

    again = load_project(EXAMPLE)  # an equal project, but another one: worked out anew
    assert runners.allow_list(again) == first and runners.allow_list(again) is not first


def test_what_is_handed_out_cannot_change_what_the_next_caller_gets() -> None:
    project = load_project(EXAMPLE)
    prod = project.environments[-1]
    steps = runners.environment_steps(project, prod)
    assert [s.action for s in steps] == ["plan.plan", "migrate.migrate"]
    steps.clear()
    assert len(runners.environment_steps(project, prod)) == 2
    with pytest.raises(TypeError):
        runners.allow_list(project)["extra"] = runners.allow_list(project)["plan"]  # type: ignore[index]
