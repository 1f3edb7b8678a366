"""`pipelines deploy` of the toolchain stacks where AWS needs more than one call: another
region's artifact key passed to the pipeline by ARN, and a large app's pipeline stack, whose
template is over what CloudFormation takes inline and needs the artifact bucket it makes."""

from __future__ import annotations

import json

import pytest

from pipelines.aws.stackplan import TEMPLATE_BODY_LIMIT, compact_json, store_only
from pipelines.local.embedded import Accounts
from tests.aws.workspace import Workspace, stack
from tests.support import FIXTURES

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")]

SERVICES = 30


def _grow(workspace: Workspace) -> None:
    workers = "".join(f"  worker{i:02d}: {{cpu: 256, memory: 512}}\n" for i in range(SERVICES))
    workspace.edit("pipeline.yaml", "\nservices:\n", f"\nservices:\n{workers}")
    workspace.synth()


def test_the_store_alone_is_the_full_templates_store_resources(workspace: Workspace) -> None:
    _grow(workspace)
    body = (workspace.templates / "shop-pipeline.json").read_bytes()
    assert len(compact_json(body).encode()) > TEMPLATE_BODY_LIMIT
    store = store_only(body)
    assert store is not None and len(store) < TEMPLATE_BODY_LIMIT
    full, alone = json.loads(body)["Resources"], json.loads(store)["Resources"]
    assert sorted(r["Type"] for r in alone.values()) == [
        "AWS::KMS::Alias",
        "AWS::KMS::Key",
        "AWS::S3::Bucket",
        "AWS::S3::BucketPolicy",
    ]
    assert all(alone[name] == full[name] for name in alone)


def test_a_pipeline_template_too_large_to_send_is_created_through_its_own_store(
    aws: Accounts, workspace: Workspace
) -> None:
    _grow(workspace)
    workspace.standins(aws)
    result = workspace.run("deploy", "--yes", "--stack", "shop-source", "--stack", "shop-pipeline")
    assert result.exit_code == 0, result.output
    assert "created in two steps: its artifact store first" in result.output
    entry = workspace.entry("shop-pipeline")
    live = stack(aws, entry)
    assert live is not None and live["StackStatus"] == "UPDATE_COMPLETE"
    cfn = aws.client("cloudformation", entry["account"], entry["region"])
    template = cfn.get_template(StackName="shop-pipeline")["TemplateBody"]
    resources = (template if isinstance(template, dict) else json.loads(template))["Resources"]
    assert "Pipeline" in resources  # the whole template, read from the bucket


def test_another_regions_artifact_key_reaches_the_pipeline_by_arn(aws: Accounts, tmp_path) -> None:
    workspace = Workspace.from_example(FIXTURES / "valid" / "multi-account", tmp_path)
    workspace.standins(aws)
    names = ["payments-source", "payments-artifacts-us-west-2", "payments-pipeline"]
    result = workspace.run("deploy", "--yes", *(f"--stack={n}" for n in names))
    assert result.exit_code == 0, result.output
    artifacts, pipeline = workspace.entry(names[1]), workspace.entry(names[2])
    kms = aws.client("kms", artifacts["account"], artifacts["region"])
    [alias] = [
        a for a in kms.list_aliases()["Aliases"] if a["AliasName"] == "alias/payments-artifacts"
    ]
    [key_arn] = [k["KeyArn"] for k in kms.list_keys()["Keys"] if k["KeyId"] == alias["TargetKeyId"]]
    live = stack(aws, pipeline)
    assert live is not None
    assert {p["ParameterKey"]: p["ParameterValue"] for p in live["Parameters"]} == {
        "ArtifactKeyUsWest2": key_arn
    }


def test_without_the_other_regions_key_the_pipeline_is_not_touched(aws: Accounts, tmp_path) -> None:
    workspace = Workspace.from_example(FIXTURES / "valid" / "multi-account", tmp_path)
    workspace.standins(aws)
    result = workspace.run(
        "deploy", "--yes", "--stack=payments-source", "--stack=payments-pipeline"
    )
    assert result.exit_code != 0
    assert (
        "no KMS key is aliased alias/payments-artifacts in 100000000001 us-west-2" in result.output
    )
    assert stack(aws, workspace.entry("payments-pipeline")) is None
