"""`pipelines diff` against moto: the change sets deploy would make, shown and deleted."""

from __future__ import annotations

import pytest

from pipelines.local.embedded import Accounts
from tests.aws.workspace import Workspace, stack

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")]

BOOTSTRAP = "sha256:" + "b0" * 32
NEXT = "sha256:" + "c1" * 32


def _change_sets(aws: Accounts, entry: dict) -> list[dict]:
    cfn = aws.client("cloudformation", entry["account"], entry["region"])
    summaries = cfn.list_change_sets(StackName=entry["name"])["Summaries"]
    return [s for s in summaries if s.get("ExecutionStatus") == "AVAILABLE"]


def test_diff_before_the_first_deploy_lists_everything_and_creates_nothing(
    aws: Accounts, workspace: Workspace
) -> None:
    result = workspace.run("diff")
    assert result.exit_code == 1
    for entry in workspace.entries():
        assert f"{entry['name']} ({entry['account']}, {entry['region']}): create" in result.output
        assert stack(aws, entry) is None  # no empty REVIEW_IN_PROGRESS stack left behind
    assert "deploy will need --bootstrap-image" in result.output
    assert "templates.zip: s3://shop-artifacts-111111111111-eu-west-1/templates.zip does not" in (
        result.output
    )


def test_diff_shows_a_change_and_deletes_its_change_set(
    aws: Accounts, workspace: Workspace
) -> None:
    workspace.standins(aws)
    deployed = workspace.run("deploy", "--yes", "--bootstrap-image", workspace.image_uri(BOOTSTRAP))
    assert deployed.exit_code == 0, deployed.output
    clean = workspace.run("diff")
    assert clean.exit_code == 0, clean.output
    assert clean.output.strip().endswith("no changes")

    # The pipeline has planned a release for prod, which waits for approval.
    prod = workspace.entry("shop-prod-web")
    cfn = aws.client("cloudformation", prod["account"], prod["region"])
    cfn.create_change_set(
        StackName=prod["name"],
        ChangeSetName="shop-prod-web-release",
        ChangeSetType="UPDATE",
        UsePreviousTemplate=True,
        Parameters=[{"ParameterKey": "ImageUri", "ParameterValue": workspace.image_uri(NEXT)}],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    workspace.edit("prod.yaml", "desired_count: 3", "desired_count: 4")
    workspace.synth()
    changed = workspace.run("diff", "--env", "prod")
    assert changed.exit_code == 1, changed.output
    assert "shop-prod-web (333333333333, eu-west-1): update, 1 resource change" in changed.output
    assert "Modify  Service" in changed.output
    assert "shop-prod-deploy (333333333333, eu-west-1): no changes" in changed.output
    assert "shop-dev-web" not in changed.output  # --env prod only
    assert "templates.zip" not in changed.output  # only a full diff compares the bundle
    assert "the pipeline's change set shop-prod-web-release waits for approval here" in (
        changed.output
    )
    assert [s["ChangeSetName"] for s in _change_sets(aws, prod)] == ["shop-prod-web-release"]
    live = stack(aws, prod)
    assert live["StackStatus"] == "CREATE_COMPLETE"  # nothing executed

    everything = workspace.run("diff")
    assert everything.exit_code == 1
    assert "templates.zip: differs from" in everything.output
    assert everything.output.strip().endswith("2 changes"), everything.output
