"""`pipelines synth --cost`: the fixed monthly cost items of each environment, counted."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from pipelines.cli import main
from pipelines.cost import TOOLCHAIN, cost_lines, fixed_cost
from pipelines.synth import synthesize
from tests.support import EXAMPLE, ROOT


def _manifest(stacks: list[dict[str, object]], promotion: list[str]) -> bytes:
    return json.dumps({"promotion": promotion, "stacks": stacks}).encode()


def test_each_item_is_counted_in_its_environment() -> None:
    service = {
        "Resources": {
            "Key": {"Type": "AWS::KMS::Key"},
            "Cluster": {
                "Type": "AWS::ECS::Cluster",
                "Properties": {
                    "ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}]
                },
            },
            "Quiet": {
                "Type": "AWS::ECS::Cluster",
                "Properties": {
                    "ClusterSettings": [{"Name": "containerInsights", "Value": "disabled"}]
                },
            },
            "Rule": {"Type": "AWS::ElasticLoadBalancingV2::ListenerRule"},
            "Task": {
                "Type": "AWS::ECS::TaskDefinition",
                "Properties": {"Cpu": "512", "Memory": "1024"},
            },
            "Service": {
                "Type": "AWS::ECS::Service",
                "Properties": {"DesiredCount": 2, "TaskDefinition": {"Ref": "Task"}},
            },
        }
    }
    source = {"Resources": {"A": {"Type": "AWS::KMS::Key"}, "B": {"Type": "AWS::KMS::Key"}}}
    files = {"svc.json": json.dumps(service).encode(), "src.json": json.dumps(source).encode()}
    manifest = _manifest(
        [
            {"name": "a-source", "file": "src.json"},
            {"name": "a-prod-api", "file": "svc.json", "environment": "prod", "service": "api"},
        ],
        ["dev", "prod"],
    )
    toolchain, dev, prod = fixed_cost(manifest, files)
    assert (toolchain.name, toolchain.keys, toolchain.insights_clusters) == (TOOLCHAIN, 2, 0)
    assert (dev.keys, dev.insights_clusters, dev.listener_rules, dev.tasks) == (0, 0, 0, [])
    assert (prod.keys, prod.insights_clusters, prod.listener_rules) == (1, 1, 1)
    assert prod.tasks == [("api", 2, "512", "1024")]
    assert prod.always_on == "2 x 512 CPU/1024 MiB (api)"


def test_the_example_counts_match_its_templates() -> None:
    synthesis = synthesize(EXAMPLE)
    scopes = {s.name: s for s in fixed_cost(synthesis.manifest, synthesis.files)}
    assert list(scopes) == [TOOLCHAIN, "dev", "staging", "prod"]
    bodies = [json.loads(o.body) for o in synthesis.outputs]
    keys = sum(r["Type"] == "AWS::KMS::Key" for b in bodies for r in b["Resources"].values())
    assert sum(s.keys for s in scopes.values()) == keys
    assert scopes["prod"].tasks == [("web", 3, "256", "512")]  # prod.yaml: desired_count 3
    lines = cost_lines(list(scopes.values()))
    assert any("https://aws.amazon.com/kms/pricing/" in line for line in lines)
    assert any("NAT gateways" in line for line in lines)
    assert not any("$" in line for line in lines)  # counts and pages, never a price


def test_synth_prints_the_cost_only_when_asked(tmp_path) -> None:
    args = ["synth", "--environments", str(EXAMPLE), "--out", str(tmp_path / "t")]
    plain = CliRunner().invoke(main, args)
    assert plain.exit_code == 0 and "fixed monthly cost items" not in plain.output
    asked = CliRunner().invoke(main, [*args, "--cost"])
    assert asked.exit_code == 0, asked.output
    assert "fixed monthly cost items" in asked.output
    assert "  prod       2         2" in asked.output


def test_synth_without_cost_does_not_import_it(tmp_path) -> None:
    code = (
        "import sys, pipelines.cli as c\n"
        "from click.testing import CliRunner\n"
        f"r = CliRunner().invoke(c.main, ['synth', '-q', '--environments', {str(EXAMPLE)!r}, "
        f"'--out', {str(tmp_path / 'o')!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "print('pipelines.cost' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "False"
