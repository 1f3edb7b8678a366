"""A large organisation's app: 100 services in 6 environments across 3 accounts.

The configuration is generated here, not committed. Synth must succeed within every
CloudFormation and CodePipeline limit, with a valid deploy order and clean templates.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipelines import limits
from pipelines.render import Synthesis
from pipelines.synth import synthesize
from tests.support import lint_template

SERVICES, ENVIRONMENTS = 100, 6
ACCOUNTS = ["222222222222", "333333333333", "444444444444"]

pytestmark = pytest.mark.slow


def write_configuration(directory: Path, services: int, environments: int) -> Path:
    directory.mkdir(parents=True)
    names = [f"env{i}" for i in range(environments)]
    pipeline = {
        "app": "big",
        "toolchain": {"account": "111111111111", "region": "eu-west-1"},
        "image": {"repository": "big"},
        "promotion": names,
        "services": {
            f"svc{i:03d}": {
                "port": 8000 + i,
                "cpu": 256,
                "memory": 512,
                "path": f"/svc{i:03d}/*",
                "health_check": {"path": "/healthz"},
            }
            for i in range(services)
        },
    }
    (directory / "pipeline.yaml").write_text(yaml.safe_dump(pipeline))
    for i, name in enumerate(names):
        account = ACCOUNTS[i % len(ACCOUNTS)]
        listener = (
            f"arn:aws:elasticloadbalancing:eu-west-1:{account}:listener/app/big/"
            "0123456789abcdef/0123456789abcdef"
        )
        environment = {
            "account": account,
            "region": "eu-west-1",
            "network": {"vpc": "vpc-0a1b2c3d4e5f60718", "subnets": ["subnet-0a1b2c3d4e5f60001"]},
            "load_balancer": {
                "listener_arn": listener,
                "host": f"{name}.example.com",
                # environments of one account share its listener: rules of their own
                "priority": 100 + i * services,
                "security_group": "sg-0a1b2c3d4e5f60101",
            },
            "alarms": [f"big-{name}-errors"],
            "bake_minutes": 5,
        }
        (directory / f"{name}.yaml").write_text(yaml.safe_dump(environment))
    return directory


@pytest.fixture(scope="module")
def large(tmp_path_factory) -> Synthesis:
    root = tmp_path_factory.mktemp("scale")
    return synthesize(write_configuration(root / "environments", SERVICES, ENVIRONMENTS))


def test_every_limit_holds(large: Synthesis) -> None:
    manifest = json.loads(large.manifest)
    assert len(manifest["stacks"]) == 1 + ENVIRONMENTS * (1 + SERVICES) + 1
    for stack in manifest["stacks"]:
        body = json.loads(large.files[stack["file"]])
        assert stack["bytes"] <= limits.TEMPLATE_BYTES_S3
        assert stack["upload_to_s3"] == (stack["bytes"] > limits.TEMPLATE_BYTES_INLINE)
        assert len(body["Resources"]) <= limits.RESOURCES_PER_STACK
    pipeline = json.loads(large.files["big-pipeline.json"])["Resources"]["Pipeline"]
    stages = pipeline["Properties"]["Stages"]
    assert len(stages) <= limits.STAGES_PER_PIPELINE
    assert max(len(s["Actions"]) for s in stages) <= limits.ACTIONS_PER_STAGE
    # every service is planned and applied in every approval environment, exactly once
    applied = [
        a["Configuration"]["StackName"]
        for s in stages
        for a in s["Actions"]
        if a["Configuration"].get("ActionMode") in ("CHANGE_SET_EXECUTE", "CREATE_UPDATE")
    ]
    assert sorted(applied) == sorted(
        s["name"] for s in manifest["stacks"] if s["kind"] == "service"
    )


def test_deploy_order_is_valid(large: Synthesis) -> None:
    manifest = json.loads(large.manifest)
    position = {name: i for i, wave in enumerate(manifest["deploy_order"]) for name in wave}
    assert sorted(position) == sorted(s["name"] for s in manifest["stacks"])
    for stack in manifest["stacks"]:
        assert all(position[n] < position[stack["name"]] for n in stack["needs"])


def test_a_sample_of_templates_is_cfn_lint_clean(large: Synthesis) -> None:
    for file in ("big-pipeline.json", "big-env5-deploy.json", "big-env3-svc042.json"):
        assert lint_template(large.files[file].decode(), "eu-west-1") == [], file
