"""Every generated template passes cfn-lint with no error and no warning."""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor

import pytest

from pipelines.render import Synthesis
from tests.support import CONFIGURATIONS, config_id, lint_template


def lint_synthesis(synthesis: Synthesis) -> dict[str, list[str]]:
    manifest = json.loads(synthesis.manifest)
    jobs = [
        (s["file"], synthesis.files[s["file"]].decode(), s["region"]) for s in manifest["stacks"]
    ]
    # About 0.8 s a template: lint them in parallel processes.
    with ProcessPoolExecutor(max_workers=2) as pool:
        results = pool.map(lint_template, [j[1] for j in jobs], [j[2] for j in jobs])
        return {file: found for (file, _, _), found in zip(jobs, results, strict=True) if found}


@pytest.mark.parametrize("config", CONFIGURATIONS, ids=config_id)
def test_templates_are_cfn_lint_clean(config, syntheses) -> None:
    assert lint_synthesis(syntheses[config_id(config)]) == {}


def test_the_lint_harness_reports_problems() -> None:
    # Guards against a harness that passes everything (e.g. a wrong entry point).
    broken = {
        "Resources": {
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": 42, "Nope": 1}},
            "Queue": {"Type": "AWS::SQS::Queue", "DependsOn": "Topic", "Properties": {}},
        }
    }
    found = lint_template(json.dumps(broken), "eu-west-1")
    assert any(f.startswith("E") for f in found), found
