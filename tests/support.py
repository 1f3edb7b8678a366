"""Paths and helpers shared by the tests. Fixtures are real YAML directories under fixtures/."""

from __future__ import annotations

import functools
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
    """cfn-lint's errors and warnings for one template, as text.

    What `cfnlint.api.lint` does (decode, then run the rules with the region's configuration),
    with the rules loaded once per process: `lint` loads all of them again on every call, which
    is most of a template's time (about 1 s of 1.2 s). tests/builders/test_cfn_lint.py checks
    that both find the same.
    """
    from cfnlint.config import ConfigMixIn
    from cfnlint.decode.decode import decode_str
    from cfnlint.runner import run_template_by_data

    template, errors = decode_str(body)
    if errors:
        matches = list(errors)
    elif template is None:
        matches = []
    else:
        configuration = ConfigMixIn(regions=[region])
        matches = list(run_template_by_data(template, configuration, cfn_lint_rules()))
    return lint_text(matches)


def lint_text(matches: list[Any]) -> list[str]:
    """cfn-lint matches of rules E and W, as text."""
    return [f"{m.rule.id} {m.message} ({m.path})" for m in matches if m.rule.id[0] in "EW"]


@functools.cache
def cfn_lint_rules() -> Any:
    """cfn-lint's rule set, as its CLI loads it once for every template it is given."""
    from cfnlint.config import ConfigMixIn
    from cfnlint.runner import Runner

    return Runner(ConfigMixIn()).rules


def resources_of_type(body: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in body["Resources"].items() if v["Type"] == kind}
