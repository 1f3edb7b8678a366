"""Fixture files and helpers shared by the runner tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pipelines.runner.allowlist import (
    Admitted,
    RunRequest,
    admit,
    check_environment,
    parse_step,
    request_from_json,
)
from pipelines.runner.document import RunnersDocument, load_document_file

RUNNER_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "runner"
RUNNERS_JSON = RUNNER_FIXTURES / "runners.json"


def document() -> RunnersDocument:
    return load_document_file(RUNNERS_JSON)


def cases(name: str) -> list[dict[str, Any]]:
    return yaml.safe_load((RUNNER_FIXTURES / name).read_text(encoding="utf-8"))


def admit_case(doc: RunnersDocument, case: dict[str, Any]) -> Admitted:
    """What the invoker does with a request (or synth with a step), without AWS."""
    if "step" in case:
        return admit(doc.runners, parse_step(case["step"]))
    data = dict(case["request"])
    if "long" in case:
        data["args"] = [*data.get("args", []), "x" * case["long"]]
    request, environment = request_from_json(data)
    admitted = admit(doc.runners, request)
    if environment is not None:
        check_environment(environment, doc.environments)
    return admitted


def request(runner: str, script: str, *args: str, **sizes: Any) -> RunRequest:
    return RunRequest(runner=runner, script=script, args=tuple(args), **sizes)
