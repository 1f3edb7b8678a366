"""Removed services and environments against moto: `diff` lists the app's stacks the manifest no
longer names, `deploy --prune` deletes them (destroy's order and bucket emptying) and nothing else.

The fast tests use a small world written here: one stack the manifest names, and stacks made
directly in moto with the tags deploy gives. The slow one deploys the example with a second
service, removes the service from the YAML and prunes it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from pipelines.aws.deploy import DeployOptions, deploy
from pipelines.aws.diff import DiffOptions, diff
from pipelines.aws.errors import OperationError
from pipelines.aws.manifest import load_manifest
from pipelines.aws.orphans import find_orphans
from pipelines.aws.session import Sessions
from pipelines.local.embedded import Accounts
from tests.aws.recorder import BOOTSTRAP_DIGEST, Recorder
from tests.aws.workspace import Workspace, stack

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")

ACCOUNT, REGION = "111111111111", "eu-west-1"
ENV_ACCOUNT = "222222222222"
BUCKET = "tiny-dev-scratch-222222222222"


def _tags(**tags: str) -> list[dict[str, str]]:
    return [{"Key": f"pipelines:{k}", "Value": v} for k, v in tags.items()]


def _topic(name: str) -> dict[str, Any]:
    return {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": name}}


KEPT = {"Resources": {"Topic": _topic("tiny-source")}}


def _tiny_world(aws: Accounts, directory: Path) -> Path:
    """App `tiny`: the manifest names tiny-source (in the toolchain) and tiny-staging-deploy (in
    222222222222); dev, removed from the YAML, left its deploy stack (with a versioned bucket)
    and a service stack there. Also a stack of another app and one without tags."""
    directory.mkdir()
    data = json.dumps(KEPT).encode()
    stacks = []
    for name, account, tags in (
        ("tiny-source", ACCOUNT, {"pipelines:app": "tiny"}),
        (
            "tiny-staging-deploy",
            ENV_ACCOUNT,
            {"pipelines:app": "tiny", "pipelines:environment": "staging"},
        ),
    ):
        (directory / f"{name}.json").write_bytes(data)
        stacks.append(
            {
                "name": name,
                "kind": "source" if name == "tiny-source" else "deploy",
                "file": f"{name}.json",
                "account": account,
                "region": REGION,
                "wave": 0,
                "tags": tags,
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
        aws.client("cloudformation", account, REGION).create_stack(
            StackName=name,
            TemplateBody=data.decode(),
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
    manifest = {
        "version": 1,
        "app": "tiny",
        "pipeline": "tiny-release",
        "toolchain": {"account": ACCOUNT, "region": REGION},
        "image": {"repository": "tiny-web", "release_tag": "release"},
        "promotion": ["staging"],
        "templates_bundle": "templates.zip",
        "deploy_order": [[s["name"] for s in stacks]],
        "stacks": stacks,
    }
    (directory / "manifest.json").write_text(json.dumps(manifest))

    cfn = aws.client("cloudformation", ENV_ACCOUNT, REGION)
    deploy_body = {
        "Resources": {
            "Scratch": {
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    "BucketName": BUCKET,
                    "VersioningConfiguration": {"Status": "Enabled"},
                },
            },
            "Topic": _topic("tiny-dev-alarms"),
        }
    }
    cfn.create_stack(
        StackName="tiny-dev-deploy",
        TemplateBody=json.dumps(deploy_body),
        Tags=_tags(app="tiny", environment="dev"),
    )
    web = {"Resources": {"Topic": _topic("tiny-dev-web")}}
    cfn.create_stack(
        StackName="tiny-dev-web",
        TemplateBody=json.dumps(web),
        Tags=_tags(app="tiny", environment="dev", service="web"),
    )
    other = {"Resources": {"Topic": _topic("other-dev-web")}}
    cfn.create_stack(
        StackName="other-dev-web", TemplateBody=json.dumps(other), Tags=_tags(app="other")
    )
    cfn.create_stack(StackName="untagged", TemplateBody=json.dumps(KEPT))
    s3 = aws.client("s3", ENV_ACCOUNT, REGION)
    # moto's CloudFormation leaves VersioningConfiguration out; AWS versions the bucket.
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    for content in (b"1", b"2"):
        s3.put_object(Bucket=BUCKET, Key="state", Body=content)
    return directory


def _names(aws: Accounts, account: str) -> set[str]:
    cfn = aws.client("cloudformation", account, REGION)
    return {s["StackName"] for s in cfn.describe_stacks()["Stacks"]}


def test_orphans_are_the_apps_tagged_stacks_the_manifest_does_not_name(
    aws: Accounts, tmp_path: Path
) -> None:
    templates = _tiny_world(aws, tmp_path / "templates")
    orphans = find_orphans(Sessions(region=REGION), load_manifest(templates))
    assert [o.line() for o in orphans] == [
        "  tiny-dev-deploy (222222222222, eu-west-1; environment dev; 2 resources; "
        "CREATE_COMPLETE)",
        "  tiny-dev-web (222222222222, eu-west-1; environment dev, service web; 1 resource; "
        "CREATE_COMPLETE)",
    ]
    assert [o.entry.kind for o in orphans] == ["deploy", "service"]


def test_diff_lists_them_and_counts_them_as_changes(aws: Accounts, tmp_path: Path) -> None:
    templates = _tiny_world(aws, tmp_path / "templates")
    result = diff(Sessions(region=REGION), DiffOptions(templates, tmp_path / "environments"))
    assert [o.entry.name for o in result.orphans] == ["tiny-dev-deploy", "tiny-dev-web"]
    assert result.changes >= 2 and result.exit_code == 1
    # --env: only the stacks asked about are compared, and no orphans are looked for.
    some = diff(Sessions(region=REGION), DiffOptions(templates, tmp_path, envs=("staging",)))
    assert some.orphans == []


def test_deploy_prune_lists_first_then_deletes_services_before_their_deploy_stack(
    aws: Accounts, tmp_path: Path
) -> None:
    templates = _tiny_world(aws, tmp_path / "templates")
    recorder = Recorder()
    options = DeployOptions(templates, tmp_path / "environments", yes=True, prune=True)
    result = deploy(Sessions(region=REGION), options, recorder)
    assert result.ok, result.failed
    assert result.pruned is not None
    assert recorder.deleting == result.pruned.deleted == ["tiny-dev-web", "tiny-dev-deploy"]
    assert result.pruned.emptied == {BUCKET: 2}
    # Listed before anything was deployed, with the bucket it empties.
    listing = recorder.lines[: recorder.lines.index("\nprune: tiny-dev-web, tiny-dev-deploy")]
    assert (
        "prune: 2 stacks of tiny that the manifest no longer names, deleted after the deploy"
        in listing
    )
    assert f"    bucket {BUCKET}: every object version and delete marker first" in listing
    assert listing.index("  tiny-dev-web (222222222222, eu-west-1)") < listing.index(
        "  tiny-dev-deploy (222222222222, eu-west-1)"
    )
    assert _names(aws, ENV_ACCOUNT) == {"tiny-staging-deploy", "other-dev-web", "untagged"}
    assert _names(aws, ACCOUNT) == {"tiny-source"}


def test_a_declined_prune_deletes_nothing_and_plain_deploy_only_mentions_them(
    aws: Accounts, tmp_path: Path
) -> None:
    templates = _tiny_world(aws, tmp_path / "templates")
    asked: list[str] = []

    def no(question: str) -> bool:
        asked.append(question)
        return False

    options = DeployOptions(templates, tmp_path / "environments", prune=True)
    result = deploy(Sessions(region=REGION), options, Recorder(), no)
    assert asked == ["delete the 2 stacks the manifest no longer names?"]
    assert result.pruned is not None and result.pruned.declined and not result.ok
    plain = deploy(Sessions(region=REGION), DeployOptions(templates, tmp_path, yes=True))
    assert plain.ok and plain.pruned is None
    assert [o.entry.name for o in plain.orphans] == ["tiny-dev-deploy", "tiny-dev-web"]
    assert {"tiny-dev-deploy", "tiny-dev-web"} <= _names(aws, ENV_ACCOUNT)


class DeniedIn:
    """Sessions, except that CloudFormation in one account refuses to list every stack
    (DescribeStacks without a StackName) with AccessDenied, as an IAM policy can."""

    def __init__(self, account: str) -> None:
        self._sessions = Sessions(region=REGION)
        self._account = account
        self.caller = self._sessions.caller

    def where(self, account: str, region: str) -> str:
        return self._sessions.where(account, region)

    def client(self, service: str, account: str, region: str) -> Any:
        client = self._sessions.client(service, account, region)
        if (service, account) == ("cloudformation", self._account):
            client.meta.events.register("before-call.cloudformation.DescribeStacks", _deny_all)
        return client


def _deny_all(params: dict[str, Any], **kwargs: Any) -> None:
    if "StackName" not in params["body"]:
        error: Any = {"Error": {"Code": "AccessDenied", "Message": "not authorized"}}
        raise ClientError(error, "DescribeStacks")


def test_an_aws_failure_listing_stacks_stops_before_anything_is_deployed(
    aws: Accounts, tmp_path: Path
) -> None:
    templates = _tiny_world(aws, tmp_path / "templates")
    recorder = Recorder()
    options = DeployOptions(templates, tmp_path, yes=True, prune=True)
    with pytest.raises(OperationError, match="cannot list the stacks of tiny in 222222222222"):
        deploy(DeniedIn(ENV_ACCOUNT), options, recorder)
    assert not any(line.startswith("\nwave") for line in recorder.lines)
    assert {"tiny-dev-deploy", "tiny-dev-web"} <= _names(aws, ENV_ACCOUNT)


WORKER = """  worker:
    cpu: 256
    memory: 512
    command: [python, worker.py]
notifications:"""


@pytest.mark.slow
def test_a_service_removed_from_the_yaml_is_listed_by_diff_and_pruned_by_deploy(
    aws: Accounts, workspace: Workspace
) -> None:
    workspace.edit("pipeline.yaml", "notifications:", WORKER)
    workspace.synth()
    workers = [e for e in workspace.entries("service") if e["service"] == "worker"]
    assert len(workers) == 3
    workspace.standins(aws)
    bootstrap = workspace.image_uri(BOOTSTRAP_DIGEST)
    deployed = workspace.run("deploy", "--yes", "--bootstrap-image", bootstrap)
    assert deployed.exit_code == 0, deployed.output
    assert "no longer names" not in deployed.output

    workspace.edit("pipeline.yaml", WORKER, "notifications:")
    workspace.synth()
    listed = workspace.run("diff")
    assert listed.exit_code == 1, listed.output
    assert "no longer in the manifest (`pipelines deploy --prune` deletes them):" in listed.output
    for e in workers:
        assert (
            f"  {e['name']} ({e['account']}, {e['region']}; environment {e['environment']}, "
            "service worker; " in listed.output
        )

    plain = workspace.run("deploy", "--yes")
    assert plain.exit_code == 0, plain.output
    assert "3 stacks of the app that the manifest no longer names still run:" in plain.output
    assert "`pipelines deploy --prune` deletes them" in plain.output
    for e in workers:
        assert stack(aws, e) is not None

    pruned = workspace.run("deploy", "--yes", "--prune")
    assert pruned.exit_code == 0, pruned.output
    assert pruned.output.index("prune: 3 stacks of shop") < pruned.output.index("wave 1 of")
    assert "pruned 3 stacks: " in pruned.output
    for e in workers:
        assert stack(aws, e) is None, e["name"]
    for entry in workspace.entries():
        live = stack(aws, entry)
        assert live is not None and live["StackStatus"].endswith("_COMPLETE"), entry["name"]
        assert "DELETE" not in live["StackStatus"]
    clean = workspace.run("diff")
    assert clean.exit_code == 0, clean.output
