"""Every generated template passes cfn-lint with no error and no warning."""

from __future__ import annotations

import json

import pytest

from pipelines.render import Synthesis
from tests.support import CONFIGURATIONS, config_id, lint_template, lint_text

# A template cfn-lint must object to: a wrong type, an unknown property, a missing requirement.
BROKEN = {
    "Resources": {
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": 42, "Nope": 1}},
        "Queue": {"Type": "AWS::SQS::Queue", "DependsOn": "Topic", "Properties": {}},
    }
}


def lint_synthesis(synthesis: Synthesis) -> dict[str, list[str]]:
    # One process, the rules loaded once (tests/support.py): under xdist the configurations are
    # spread over the workers already, and a pool per test would load the rules again in each.
    manifest = json.loads(synthesis.manifest)
    found = {
        s["file"]: lint_template(synthesis.files[s["file"]].decode(), s["region"])
        for s in manifest["stacks"]
    }
    return {file: problems for file, problems in found.items() if problems}


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGURATIONS, ids=config_id)
def test_templates_are_cfn_lint_clean(config, syntheses) -> None:
    assert lint_synthesis(syntheses[config_id(config)]) == {}


def test_the_lint_harness_reports_problems() -> None:
    # Guards against a harness that passes everything (e.g. a wrong entry point).
    found = lint_template(json.dumps(BROKEN), "eu-west-1")
    assert any(f.startswith("E") for f in found), found


@pytest.mark.slow
def test_the_harness_finds_what_cfnlint_api_lint_finds(syntheses) -> None:
    """The harness runs cfn-lint's rules the way `cfnlint.api.lint` does, but loads them once:
    both give the same findings, on a broken template and on a real one made broken."""
    from cfnlint.api import ManualArgs, lint

    example = syntheses["example"]
    [source] = [s for s in json.loads(example.manifest)["stacks"] if s["kind"] == "source"]
    body = json.loads(example.files[source["file"]])
    repository = next(r for r in body["Resources"].values() if r["Type"] == "AWS::ECR::Repository")
    repository["Properties"]["ImageScanningConfiguration"] = "yes"  # an object is required
    for template, region in ((BROKEN, "eu-west-1"), (body, source["region"])):
        text = json.dumps(template)
        expected = lint_text(lint(text, config=ManualArgs(regions=[region])))
        assert expected, "the template was meant to be broken"
        assert sorted(lint_template(text, region)) == sorted(expected)
