"""`pipelines destroy` against moto: reverse deploy order, emptied buckets, what stays behind.

The fast tests use a small world of two stacks written here (a manifest and its templates); the
slow ones deploy the example first (about 10 s of moto each).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from pipelines.aws.destroy import DestroyOptions, destroy
from pipelines.aws.errors import BadInput
from pipelines.aws.manifest import load_manifest
from pipelines.aws.session import Sessions
from pipelines.local.embedded import Accounts
from tests.aws.recorder import BOOTSTRAP_DIGEST, Recorder
from tests.aws.workspace import Workspace, push_image, stack

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")


ACCOUNT, REGION = "111111111111", "eu-west-1"
BUCKET = "tiny-artifacts-111111111111-eu-west-1"
TEMPLATES: dict[str, dict[str, Any]] = {
    "tiny-source": {
        "Resources": {
            "Repository": {
                "Type": "AWS::ECR::Repository",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {"RepositoryName": "tiny-web"},
            },
            "LogKey": {
                "Type": "AWS::KMS::Key",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "Description": "tiny's log key",
                    "KeyPolicy": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                                "Action": "kms:*",
                                "Resource": "*",
                            }
                        ],
                    },
                },
            },
        }
    },
    "tiny-pipeline": {
        "Resources": {
            "ArtifactBucket": {
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    "BucketName": BUCKET,
                    "VersioningConfiguration": {"Status": "Enabled"},
                },
            },
            "LogGroup": {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {"LogGroupName": "/tiny/release-marker"},
            },
        }
    },
}


def _tiny_world(aws: Accounts, directory: Path) -> Path:
    """Two stacks of an app `tiny`, as synth would list them, created in moto."""
    directory.mkdir()
    stacks = []
    for wave, (name, body) in enumerate(TEMPLATES.items()):
        data = json.dumps(body).encode()
        (directory / f"{name}.json").write_bytes(data)
        stacks.append(
            {
                "name": name,
                "kind": name.split("-")[1],
                "file": f"{name}.json",
                "account": ACCOUNT,
                "region": REGION,
                "wave": wave,
                "tags": {"pipelines:app": "tiny"},
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
        cfn = aws.client("cloudformation", ACCOUNT, REGION)
        cfn.create_stack(StackName=name, TemplateBody=data.decode())
    manifest = {
        "version": 1,
        "app": "tiny",
        "pipeline": "tiny-release",
        "toolchain": {"account": ACCOUNT, "region": REGION},
        "image": {"repository": "tiny-web", "release_tag": "release"},
        "promotion": [],
        "templates_bundle": "templates.zip",
        "deploy_order": [[s["name"]] for s in stacks],
        "stacks": stacks,
    }
    (directory / "manifest.json").write_text(json.dumps(manifest))
    s3 = aws.client("s3", ACCOUNT, REGION)
    # moto's CloudFormation leaves VersioningConfiguration out; AWS versions the bucket.
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    for content in (b"1", b"2"):
        s3.put_object(Bucket=BUCKET, Key="templates.zip", Body=content)
    s3.delete_object(Bucket=BUCKET, Key="templates.zip")  # a delete marker over two versions
    return directory


def test_destroy_empties_the_bucket_deletes_in_reverse_order_and_reports_what_it_keeps(
    aws: Accounts, tmp_path: Path
) -> None:
    templates = _tiny_world(aws, tmp_path / "templates")
    s3 = aws.client("s3", ACCOUNT, REGION)
    with pytest.raises(s3.exceptions.ClientError, match="BucketNotEmpty"):
        s3.delete_bucket(Bucket=BUCKET)  # why the emptying comes first
    recorder = Recorder()
    result = destroy(Sessions(region=REGION), DestroyOptions(templates, yes=True), recorder)
    assert result.ok, result.failed
    assert recorder.deleting == result.deleted == ["tiny-pipeline", "tiny-source"]
    assert result.emptied == {BUCKET: 3}
    assert BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    cfn = aws.client("cloudformation", ACCOUNT, REGION)
    assert [
        s["StackName"]
        for s in cfn.list_stacks(StackStatusFilter=["CREATE_COMPLETE"])["StackSummaries"]
    ] == []
    plan = "\n".join(recorder.lines)
    assert "log group /tiny/release-marker: deleted with the stack" in plan
    assert plan.index("tiny-pipeline (") < plan.index("tiny-source (")
    kept = {(r.logical_id, r.resource_type) for r in result.left_behind}
    assert kept == {("Repository", "AWS::ECR::Repository"), ("LogKey", "AWS::KMS::Key")}
    assert (
        "ECR repository tiny-web (tiny-source Repository; 111111111111, eu-west-1, 0 images)"
        in (plan)
    )
    ecr = aws.client("ecr", ACCOUNT, REGION)
    assert [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]] == [
        "tiny-web"
    ]


def test_include_retained_deletes_the_repository_and_schedules_the_key_for_seven_days(
    aws: Accounts, tmp_path: Path
) -> None:
    templates = _tiny_world(aws, tmp_path / "templates")
    cfn = aws.client("cloudformation", ACCOUNT, REGION)
    key_id = cfn.describe_stack_resource(StackName="tiny-source", LogicalResourceId="LogKey")[
        "StackResourceDetail"
    ]["PhysicalResourceId"]
    options = DestroyOptions(templates, yes=True, include_retained=True)
    recorder = Recorder()
    result = destroy(Sessions(region=REGION), options, recorder)
    assert result.ok and result.left_behind == []
    plan = "\n".join(recorder.lines)
    assert f"--include-retained: key {key_id} scheduled for deletion in 7 days" in plan
    assert "--include-retained: repository tiny-web deleted with every image in it" in plan
    assert aws.client("ecr", ACCOUNT, REGION).describe_repositories()["repositories"] == []
    assert _key_state({"account": ACCOUNT, "region": REGION}, key_id) == "PendingDeletion"
    from moto.kms.models import kms_backends

    key = kms_backends[ACCOUNT][REGION].keys[key_id]
    assert key.deletion_date is not None


def test_destroy_without_a_terminal_lists_and_refuses(aws: Accounts, tmp_path: Path) -> None:
    templates = _tiny_world(aws, tmp_path / "templates")
    recorder = Recorder()
    with pytest.raises(BadInput, match="run it on a terminal, or pass --yes"):
        destroy(Sessions(region=REGION), DestroyOptions(templates), recorder)
    assert recorder.lines[0] == "destroy: every stack of tiny"
    assert "  tiny-source (111111111111, eu-west-1)" in recorder.lines
    cfn = aws.client("cloudformation", ACCOUNT, REGION)
    assert len(cfn.describe_stacks()["Stacks"]) == 2


def _deploy(workspace: Workspace, *args: str) -> None:
    bootstrap = workspace.image_uri(BOOTSTRAP_DIGEST)
    result = workspace.run("deploy", "--yes", "--bootstrap-image", bootstrap, *args)
    assert result.exit_code == 0, result.output


def _key_state(entry: dict[str, str], key_id: str) -> str:
    """From moto's backend: its DescribeKey cannot read a key policy CloudFormation stored."""
    from moto.kms.models import kms_backends

    return str(kms_backends[entry["account"]][entry["region"]].keys[key_id].key_state)


@pytest.mark.slow
def test_destroy_of_one_environment_deletes_its_stacks_in_reverse_order_and_keeps_its_key(
    aws: Accounts, workspace: Workspace
) -> None:
    workspace.standins(aws)
    _deploy(workspace, "--stack", "shop-source", "--env", "dev", "--env", "staging")
    dev = workspace.entry("shop-dev-deploy")
    key_id = aws.client("cloudformation", dev["account"], dev["region"]).describe_stack_resource(
        StackName="shop-dev-deploy", LogicalResourceId="LogKey"
    )["StackResourceDetail"]["PhysicalResourceId"]

    refused = workspace.run("destroy", "--env", "dev")  # no terminal, no --yes
    assert refused.exit_code == 2
    assert "shop-dev-web (222222222222, eu-west-1)" in refused.output  # listed first
    assert "run it on a terminal, or pass --yes" in refused.output
    assert stack(aws, workspace.entry("shop-dev-web")) is not None

    recorder = Recorder()
    options = DestroyOptions(workspace.templates, env="dev", yes=True)
    result = destroy(Sessions(region="eu-west-1"), options, recorder)
    assert result.ok and result.deleted == ["shop-dev-web", "shop-dev-deploy"]
    assert recorder.deleting == ["shop-dev-web", "shop-dev-deploy"]  # services first
    for name in ("shop-dev-web", "shop-dev-deploy"):
        assert stack(aws, workspace.entry(name)) is None
    # The other environment and the toolchain run on.
    for name in ("shop-staging-web", "shop-staging-deploy", "shop-staging-runner", "shop-source"):
        live = stack(aws, workspace.entry(name))
        assert live is not None and live["StackStatus"] == "CREATE_COMPLETE", name
    # The log key is retained, named in the plan with why, and still enabled.
    [kept] = [r for r in result.left_behind]
    assert (kept.stack, kept.logical_id, kept.physical_id) == ("shop-dev-deploy", "LogKey", key_id)
    assert any(key_id in line and "monthly key fee" in line for line in recorder.lines)
    assert _key_state(dev, key_id) == "Enabled"
    assert any("the pipeline still promotes to dev" in line for line in recorder.lines)

    again = workspace.run("destroy", "--env", "dev", "--yes")
    assert again.exit_code == 0, again.output
    assert "already gone: shop-dev-deploy, shop-dev-web" in again.output
    assert "nothing to delete" in again.output


@pytest.mark.slow
def test_a_declined_destroy_deletes_nothing(aws: Accounts, workspace: Workspace) -> None:
    workspace.standins(aws)
    _deploy(workspace, "--env", "dev", "--stack", "shop-source")
    asked: list[str] = []

    def no(question: str) -> bool:
        asked.append(question)
        return False

    options = DestroyOptions(workspace.templates, env="dev")
    result = destroy(Sessions(region="eu-west-1"), options, Recorder(), no)
    assert result.declined and not result.ok and asked == ["delete 2 stacks?"]
    assert stack(aws, workspace.entry("shop-dev-web")) is not None


@pytest.mark.slow
def test_a_failed_deletion_stops_before_anything_later(
    aws: Accounts, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace.standins(aws)
    _deploy(workspace, "--env", "dev", "--stack", "shop-source")
    from pipelines.aws import destroy as module
    from pipelines.aws.cloudformation import Failure, Outcome

    def fails(cfn, live, on_event):  # type: ignore[no-untyped-def]
        reason = "Export shop-dev-LogKeyArn cannot be deleted as it is in use"
        return Outcome(
            live.name, False, "DELETE_FAILED", [Failure("x", "y", "DELETE_FAILED", reason)]
        )

    monkeypatch.setattr(module, "delete_stack", fails)
    result = workspace.run("destroy", "--yes")
    assert result.exit_code == 1
    assert "shop-dev-web failed: DELETE_FAILED" in result.output
    assert "Not touched: shop-source, shop-dev-deploy." in result.output
    for name in ("shop-dev-web", "shop-dev-deploy", "shop-source"):
        assert stack(aws, workspace.entry(name)) is not None


@pytest.mark.slow
def test_destroy_of_the_whole_app_leaves_no_stack_and_include_retained_removes_the_rest(
    aws: Accounts, workspace: Workspace
) -> None:
    workspace.standins(aws)
    _deploy(workspace)
    manifest = load_manifest(workspace.templates)
    toolchain = (manifest.toolchain_account, manifest.toolchain_region)
    push_image(aws, workspace, "1", "v1")
    s3 = aws.client("s3", *toolchain)
    bucket = manifest.artifact_bucket
    # moto's CloudFormation leaves VersioningConfiguration out; AWS versions the bucket.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="extra", Body=b"1")
    s3.put_object(Bucket=bucket, Key="extra", Body=b"2")
    s3.delete_object(Bucket=bucket, Key="extra")  # a delete marker over two versions
    listed = s3.list_object_versions(Bucket=bucket)
    stored = len(listed.get("Versions", [])) + len(listed.get("DeleteMarkers", []))
    assert stored == 5  # templates.zip, the invoker's package, two versions, one marker

    result = workspace.run("destroy", "--yes")
    assert result.exit_code == 0, result.output
    for entry in workspace.entries():
        assert stack(aws, entry) is None, entry["name"]
    assert f"emptied {bucket} first ({stored} object versions and delete markers)" in result.output
    assert bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    # Order: the toolchain runner first, the deploy stacks and the source last.
    listing = result.output[: result.output.index("\n\nstep 1 of")]
    assert listing.index("shop-runner (") < listing.index("shop-prod-web (")
    assert listing.index("shop-prod-web (") < listing.index("shop-prod-runner (")
    assert listing.index("shop-prod-runner (") < listing.index("shop-prod-deploy (")
    # What stays: the repository with its image and five log keys, each named.
    assert "retained (still there, still billed):" in result.output
    assert "ECR repository shop-web (shop-source Repository; 111111111111, eu-west-1, 1 image)" in (
        result.output
    )
    assert result.output.count("  KMS key ") >= 5
    ecr = aws.client("ecr", *toolchain)
    assert ecr.describe_repositories()["repositories"][0]["repositoryName"] == "shop-web"

    # The stacks are gone, so the keys cannot be found from them; the repository still can.
    later = workspace.run("destroy", "--yes", "--include-retained")
    assert later.exit_code == 0, later.output
    assert "repository shop-web: deleted with its images" in later.output
    assert ecr.describe_repositories()["repositories"] == []
