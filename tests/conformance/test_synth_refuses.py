"""synth refuses, with a message naming the AWS rule and where it would break, a configuration
whose templates AWS would refuse; nothing is written."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from pipelines.cli import main
from tests.support import EXAMPLE


def _with_many_permissions(tmp_path: Path, services: int) -> Path:
    """The example with `services` more services, each granted its own distinct permission."""
    environments = tmp_path / "environments"
    environments.mkdir()
    for file in EXAMPLE.glob("*.yaml"):
        (environments / file.name).write_text(file.read_text())
    text = (environments / "pipeline.yaml").read_text()
    workers = "".join(
        f"  worker{i:03d}:\n    cpu: 256\n    memory: 512\n    permissions:\n"
        f"      - actions: [sqs:ReceiveMessage]\n"
        f"        resources: [arn:aws:sqs:eu-west-1:333333333333:shop-queue-{i:03d}]\n"
        f"        conditions: {{StringEquals: {{aws:ResourceTag/queue: q{i:03d}}}}}\n"
        for i in range(services)
    )
    (environments / "pipeline.yaml").write_text(
        text.replace("\nservices:\n", f"\nservices:\n{workers}", 1)
    )
    return environments


def test_a_boundary_over_the_managed_policy_quota_is_refused(tmp_path: Path) -> None:
    environments = _with_many_permissions(tmp_path, 60)
    out = tmp_path / "templates"
    result = CliRunner().invoke(
        main, ["synth", "--environments", str(environments), "--out", str(out)]
    )
    assert result.exit_code == 2, result.output
    assert "ServiceBoundary.PolicyDocument: the policy is " in result.output
    assert "AWS allows 6,144 characters" in result.output
    assert "iam-managed-policy-size; https://docs.aws.amazon.com/IAM/" in result.output
    # the template breaks the rule; the message says where the configuration makes it
    assert "(set by prod.yaml and pipeline.yaml: services, runners)" in result.output
    assert not out.exists()


def test_permissions_that_differ_only_in_resources_share_one_boundary_statement(
    tmp_path: Path,
) -> None:
    environments = _with_many_permissions(tmp_path, 60)
    text = (environments / "pipeline.yaml").read_text()
    unconditional = "\n".join(
        line for line in text.splitlines() if "conditions: {StringEquals" not in line
    )
    (environments / "pipeline.yaml").write_text(unconditional + "\n")
    out = tmp_path / "templates"
    result = CliRunner().invoke(
        main, ["synth", "--environments", str(environments), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
