"""A project directory for the AWS verb tests: environments/, its synth, and the CLI run in it.

Also the moto-side helpers those tests share: stand-ins for what the YAML says exists, images
pushed to the release repository, and a pipeline release replayed as CloudFormation calls.
"""

from __future__ import annotations

import json
import shutil
import traceback
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from click.testing import CliRunner, Result

from pipelines.aws import ecs as live_ecs
from pipelines.cli import main
from pipelines.config.loader import load_project
from pipelines.local.embedded import Accounts, create_standins
from pipelines.render import write_atomically
from pipelines.synth import synthesize

CAPABILITIES = ["CAPABILITY_NAMED_IAM"]


class Workspace:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.environments = root / "environments"
        self.templates = root / "templates"

    @classmethod
    def from_example(cls, example: Path, tmp_path: Path) -> Workspace:
        workspace = cls(tmp_path)
        shutil.copytree(example, workspace.environments)
        workspace.synth()
        return workspace

    def synth(self) -> None:
        write_atomically(self.templates, synthesize(self.environments).files)

    def edit(self, file: str, old: str, new: str) -> None:
        path = self.environments / file
        text = path.read_text()
        assert old in text, (file, old)
        path.write_text(text.replace(old, new, 1))

    @property
    def manifest(self) -> dict[str, Any]:
        return json.loads((self.templates / "manifest.json").read_bytes())

    def entry(self, name: str) -> dict[str, Any]:
        [entry] = [s for s in self.manifest["stacks"] if s["name"] == name]
        return entry

    def entries(self, kind: str | None = None, env: str | None = None) -> list[dict[str, Any]]:
        return [
            s
            for s in self.manifest["stacks"]
            if (kind is None or s["kind"] == kind) and (env is None or s["environment"] == env)
        ]

    def registry(self) -> str:
        toolchain = self.manifest["toolchain"]
        return f"{toolchain['account']}.dkr.ecr.{toolchain['region']}.amazonaws.com"

    def image_uri(self, digest: str) -> str:
        return f"{self.registry()}/{self.manifest['image']['repository']}@{digest}"

    def run(self, verb: str, *args: str, input: str | None = None) -> Result:
        """`pipelines <verb> … --templates <this synth>`; a traceback fails the test."""
        extra = ["--templates", str(self.templates)]
        if verb in ("deploy", "diff"):
            extra += ["--environments", str(self.environments)]
        result = CliRunner().invoke(main, [verb, *args, *extra], input=input)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(
                "".join(traceback.format_exception(result.exception)) + result.output
            )
        return result

    def standins(self, accounts: Accounts) -> None:
        create_standins(accounts, load_project(self.environments))


def stack(accounts: Accounts, entry: dict[str, Any]) -> dict[str, Any] | None:
    cfn = accounts.client("cloudformation", entry["account"], entry["region"])
    try:
        return cfn.describe_stacks(StackName=entry["name"])["Stacks"][0]
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise


def parameter(live: dict[str, Any], key: str = "ImageUri") -> str:
    return {p["ParameterKey"]: p["ParameterValue"] for p in live.get("Parameters", [])}[key]


def outputs(live: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in live.get("Outputs") or []}


def push_image(accounts: Accounts, workspace: Workspace, seed: str, tag: str) -> str:
    """Push an image (its manifest only) to the release repository; returns its digest."""
    toolchain = workspace.manifest["toolchain"]
    ecr = accounts.client("ecr", toolchain["account"], toolchain["region"])
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"digest": f"sha256:{seed * 64}"[:71], "size": 1, "mediaType": "x"},
        "layers": [{"digest": f"sha256:{seed * 64}"[:71], "size": 1, "mediaType": "x"}],
    }
    return ecr.put_image(
        repositoryName=workspace.manifest["image"]["repository"],
        imageManifest=json.dumps(manifest),
        imageTag=tag,
    )["image"]["imageId"]["imageDigest"]


def release(accounts: Accounts, entry: dict[str, Any], image: str) -> None:
    """What the pipeline's Deploy action does to a service stack: the same template, a new
    ImageUri, as one change set."""
    cfn = accounts.client("cloudformation", entry["account"], entry["region"])
    created = cfn.create_change_set(
        StackName=entry["name"],
        ChangeSetName="pipeline-release",
        ChangeSetType="UPDATE",
        UsePreviousTemplate=True,
        Parameters=[{"ParameterKey": "ImageUri", "ParameterValue": image}],
        Capabilities=CAPABILITIES,
    )
    cfn.execute_change_set(ChangeSetName=created["Id"])


def running_image(accounts: Accounts, entry: dict[str, Any]) -> str:
    """The image of the task definition the stack's ECS service runs."""
    live = stack(accounts, entry)
    assert live is not None
    out = outputs(live)
    ecs = accounts.client("ecs", entry["account"], entry["region"])
    image = live_ecs.running_image(ecs, out["ClusterName"], out["ServiceName"])
    assert image is not None, f"no ECS service for {entry['name']}"
    return image
