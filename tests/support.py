"""Paths and helpers shared by the tests. Fixtures are real YAML directories under fixtures/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipelines.render import Synthesis

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "environments"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
VALID_FIXTURES = sorted(p for p in (FIXTURES / "valid").iterdir() if p.is_dir())
# The example and every valid fixture: each must synthesize to clean templates.
CONFIGURATIONS = [EXAMPLE, *VALID_FIXTURES]


def config_id(path: Path) -> str:
    return "example" if path == EXAMPLE else path.name


def template(synthesis: Synthesis, stack: str) -> dict[str, Any]:
    """The parsed template of `stack` from a synthesis."""
    return json.loads(synthesis.files[f"{stack}.json"])


def lint_template(body: str, region: str) -> list[str]:
    """cfn-lint's errors and warnings for one template, as text."""
    from cfnlint.api import ManualArgs, lint

    matches = lint(body, config=ManualArgs(regions=[region]))
    return [f"{m.rule.id} {m.message} ({m.path})" for m in matches if m.rule.id[0] in "EW"]


def resources_of_type(body: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in body["Resources"].items() if v["Type"] == kind}
