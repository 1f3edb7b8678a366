"""`pipelines deploy` against moto: every stack of the example, in its own account and region."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest

from pipelines.aws import bundle
from pipelines.aws.deploy import DeployOptions, deploy
from pipelines.aws.errors import FAILED, OK
from pipelines.aws.manifest import load_manifest
from pipelines.aws.session import Sessions
from pipelines.local.embedded import Accounts
from tests.aws.workspace import (
    Workspace,
    parameter,
    push_image,
    release,
    running_image,
    stack,
)

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")]

BOOTSTRAP_DIGEST = "sha256:" + "b0" * 32
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "cloudformation.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def _deploy(workspace: Workspace, *args: str):
    bootstrap = workspace.image_uri(BOOTSTRAP_DIGEST)
    return workspace.run("deploy", "--yes", "--bootstrap-image", bootstrap, *args)


def test_deploy_creates_every_stack_and_a_rerun_changes_nothing(
    aws: Accounts, workspace: Workspace
) -> None:
    workspace.standins(aws)
    result = _deploy(workspace)
    assert result.exit_code == 0, result.output
    for entry in workspace.entries():
        live = stack(aws, entry)
        assert live is not None and live["StackStatus"] == "CREATE_COMPLETE", entry["name"]
        assert {t["Key"]: t["Value"] for t in live["Tags"]} == entry["tags"]
    for entry in workspace.entries("service"):
        assert parameter(stack(aws, entry)) == workspace.image_uri(BOOTSTRAP_DIGEST)
        assert running_image(aws, entry) == workspace.image_uri(BOOTSTRAP_DIGEST)
    # The waves ran in order: no service stack before its environment's deploy stack.
    assert result.output.index("wave 2 of 3") > result.output.index("shop-prod-deploy  CREATE_")
    # The invoker's package is uploaded before the runner stack that reads it is created.
    (invoker,) = [a for a in workspace.manifest["assets"] if a["file"] == "invoker.zip"]
    assert invoker["needed_by"] == ["shop-runner"]
    uploaded = result.output.index("invoker.zip uploaded to s3://shop-artifacts-")
    assert uploaded > result.output.index("shop-pipeline  CREATE_COMPLETE")
    assert uploaded < result.output.index("shop-runner  CREATE_")

    # templates.zip: in the toolchain bucket, deterministic, every template at its root.
    toolchain = workspace.manifest["toolchain"]
    s3 = aws.client("s3", toolchain["account"], toolchain["region"])
    bucket = f"shop-artifacts-{toolchain['account']}-{toolchain['region']}"
    stored = s3.get_object(Bucket=bucket, Key="templates.zip")
    data = stored["Body"].read()
    expected = bundle.templates_zip(load_manifest(workspace.templates))
    assert data == expected == bundle.templates_zip(load_manifest(workspace.templates))
    assert stored["Metadata"] == {"sha256": bundle.sha256(data)}
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert names == sorted([e["file"] for e in workspace.entries()] + ["manifest.json"])
    assert {i.date_time for i in zipfile.ZipFile(io.BytesIO(data)).infolist()} == {
        (1980, 1, 1, 0, 0, 0)
    }

    package = s3.get_object(Bucket=bucket, Key=invoker["key"])
    assert package["Body"].read() == (workspace.templates / "invoker.zip").read_bytes()
    assert package["Metadata"] == {"sha256": invoker["sha256"]}

    again = workspace.run("deploy", "--yes")  # no bootstrap needed: every stack exists
    assert again.exit_code == 0, again.output
    assert again.output.count(": no changes") == len(workspace.entries())
    assert "EXECUTING" not in again.output
    assert "templates.zip unchanged" in again.output
    assert "invoker.zip already in s3://" in again.output


def test_an_infrastructure_change_keeps_the_released_image(
    aws: Accounts, workspace: Workspace
) -> None:
    workspace.standins(aws)
    assert _deploy(workspace).exit_code == 0
    dev = workspace.entry("shop-dev-web")
    released = workspace.image_uri(push_image(aws, workspace, "1", "v1"))
    release(aws, dev, released)
    assert running_image(aws, dev) == released

    workspace.edit("dev.yaml", "desired_count: 1", "desired_count: 2")
    workspace.synth()
    result = workspace.run("deploy", "--yes")
    assert result.exit_code == 0, result.output
    assert "shop-dev-web (222222222222, eu-west-1): update" in result.output
    assert "Modify  Service" in result.output
    live = stack(aws, dev)
    assert live["StackStatus"] == "UPDATE_COMPLETE"
    assert parameter(live) == released  # UsePreviousValue: not back to the bootstrap image
    assert running_image(aws, dev) == released
    ecs = aws.client("ecs", dev["account"], dev["region"])
    [service] = ecs.describe_services(cluster="shop-dev-web", services=["shop-dev-web"])["services"]
    assert service["desiredCount"] == 2
    # Other stacks were left alone, and the new templates reached the bucket.
    assert result.output.count(": no changes") == len(workspace.entries()) - 1
    assert "templates.zip uploaded" in result.output


def test_a_failed_stack_stops_the_deploy_and_a_rerun_continues(
    aws: Accounts, workspace: Workspace
) -> None:
    workspace.standins(aws)
    prod = workspace.entry("shop-prod-deploy")
    iam = aws.client("iam", prod["account"], prod["region"])
    iam.create_role(RoleName="shop-prod-cfn", AssumeRolePolicyDocument=json.dumps(TRUST))

    result = _deploy(workspace)
    assert result.exit_code == 1
    assert "shop-prod-deploy failed: ROLLBACK_COMPLETE" in result.output
    assert (
        "CloudFormationRole (AWS::IAM::Role) CREATE_FAILED: Role with name shop-prod-cfn "
        "already exists" in result.output
    )
    assert "No stack of a later wave was touched" in result.output
    assert "Traceback" not in result.output
    assert stack(aws, prod)["StackStatus"] == "ROLLBACK_COMPLETE"
    for entry in workspace.entries():
        if entry["wave"] == 0 and entry["name"] != prod["name"]:
            assert stack(aws, entry)["StackStatus"] == "CREATE_COMPLETE"  # same wave: ran
        if entry["wave"] > 0:
            assert stack(aws, entry) is None, entry["name"]  # later wave: untouched

    iam.delete_role(RoleName="shop-prod-cfn")
    rerun = _deploy(workspace)
    assert rerun.exit_code == 0, rerun.output
    assert "shop-prod-deploy (333333333333, eu-west-1): re-create" in rerun.output
    assert "shop-dev-deploy (222222222222, eu-west-1): no changes" in rerun.output
    for entry in workspace.entries():
        assert stack(aws, entry)["StackStatus"] == "CREATE_COMPLETE", entry["name"]


def test_a_new_service_stack_needs_a_first_image(aws: Accounts, workspace: Workspace) -> None:
    result = workspace.run("deploy", "--yes")
    assert result.exit_code == 2
    assert "shop-dev-web, shop-staging-web, shop-prod-web do not exist yet" in result.output
    assert "--bootstrap-image" in result.output
    assert all(stack(aws, e) is None for e in workspace.entries())  # refused before anything


def test_deploy_of_one_environment_leaves_the_rest(aws: Accounts, workspace: Workspace) -> None:
    workspace.standins(aws)
    result = _deploy(workspace, "--env", "dev", "--stack", "shop-source")
    assert result.exit_code == 0, result.output
    deployed = {e["name"] for e in workspace.entries() if stack(aws, e) is not None}
    assert deployed == {"shop-source", "shop-dev-deploy", "shop-dev-web"}
    assert "templates.zip not updated: this deploy covered only some stacks" in result.output


def test_a_stack_that_cannot_roll_back_stops_everything(
    aws: Accounts, workspace: Workspace
) -> None:
    from moto.cloudformation.models import cloudformation_backends

    workspace.standins(aws)
    assert _deploy(workspace).exit_code == 0
    prod = workspace.entry("shop-prod-web")
    backend = cloudformation_backends[prod["account"]][prod["region"]]
    [moto_stack] = [s for s in backend.stacks.values() if s.name == prod["name"]]
    moto_stack.status = "UPDATE_ROLLBACK_FAILED"
    workspace.edit("dev.yaml", "desired_count: 1", "desired_count: 2")
    workspace.synth()

    result = workspace.run("deploy", "--yes")
    assert result.exit_code == 1
    assert "stack shop-prod-web is UPDATE_ROLLBACK_FAILED" in result.output
    assert "continue-update-rollback --stack-name shop-prod-web" in result.output
    assert "EXECUTING" not in result.output  # refused before any change set ran
    assert stack(aws, workspace.entry("shop-dev-web"))["StackStatus"] == "CREATE_COMPLETE"


def test_a_large_template_goes_through_the_artifact_bucket(
    aws: Accounts, workspace: Workspace
) -> None:
    workspace.standins(aws)
    assert _deploy(workspace).exit_code == 0
    # Mark the source stack as too big to send inline, with a changed template: its manifest
    # entry keeps the SHA-256 of the bytes, as synth writes it.
    path = workspace.templates / "shop-source.json"
    body = json.loads(path.read_bytes())
    body["Outputs"] = {**body.get("Outputs", {}), "Marker": {"Value": "large"}}
    path.write_text(json.dumps(body, indent=1))
    manifest = workspace.manifest
    [entry] = [s for s in manifest["stacks"] if s["name"] == "shop-source"]
    entry["upload_to_s3"] = True
    entry["sha256"] = bundle.sha256(path.read_bytes())
    (workspace.templates / "manifest.json").write_text(json.dumps(manifest, indent=1))

    result = workspace.run("deploy", "--yes", "--stack", "shop-source")
    assert result.exit_code == 0, result.output
    s3 = aws.client("s3", entry["account"], entry["region"])
    key = f"templates/{entry['sha256']}.json"
    stored = s3.get_object(Bucket=f"shop-artifacts-{entry['account']}-{entry['region']}", Key=key)
    assert stored["Body"].read() == path.read_bytes()
    live = stack(aws, entry)
    assert live["StackStatus"] == "UPDATE_COMPLETE"
    assert {o["OutputKey"]: o["OutputValue"] for o in live["Outputs"]}["Marker"] == "large"


class Recorder:
    """A Reporter that keeps what a verb reports."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.watched: list[list[str]] = []
        self.statuses: list[tuple[str, str]] = []

    def info(self, line: str) -> None:
        self.lines.append(line)

    def warning(self, line: str) -> None:
        self.lines.append(line)

    @contextmanager
    def watching(self, stacks: Sequence[str]) -> Iterator[None]:
        self.watched.append(list(stacks))
        yield

    def stack_status(self, stack: str, status: str, detail: str = "") -> None:
        self.statuses.append((stack, status))

    def resource_status(self, *_: str) -> None:
        pass


def test_deploy_called_as_a_function_asks_through_confirm_and_prints_nothing(
    aws: Accounts, workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    options = DeployOptions(workspace.templates, workspace.environments, stacks=("shop-source",))
    asked: list[str] = []

    def no(question: str) -> bool:
        asked.append(question)
        return False

    declined = deploy(Sessions(), options, Recorder(), no)
    assert asked == ["execute 1 change set of wave 1?"]
    assert declined.declined and declined.exit_code == FAILED

    reporter = Recorder()
    result = deploy(Sessions(), options, reporter, lambda q: True)
    assert result.ok and result.exit_code == OK
    assert result.templates == "partial"  # only some stacks: templates.zip is left alone
    assert reporter.watched == [["shop-source"]]
    assert ("shop-source", "CREATE_COMPLETE") in reporter.statuses
    assert any("shop-source (111111111111, eu-west-1): create" in line for line in reporter.lines)
    assert stack(aws, workspace.entry("shop-source"))["StackStatus"] == "CREATE_COMPLETE"
    assert capsys.readouterr() == ("", "")
