"""Lifecycle hooks as the rehearsal runs them (actions/deployment.py) on an embedded AWS: at
their stage, each declared job admitted by the invoker's own code and stood in for; a failing
hook job rolls the deployment back, the service returns to its previous task definition and the
action fails; a passing one lets the deployment complete."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from pipelines import naming
from pipelines.aws.cloudformation import change_set_type, create_change_set, describe, execute
from pipelines.invoker import names
from pipelines.invoker.document import load_document
from pipelines.local.actions.context import Context
from pipelines.local.actions.deployment import hook_failure_key, roll_out, service_before
from pipelines.local.changesets import cloudformation_like_change_sets
from pipelines.local.clients import ActionClients
from pipelines.local.execution import ActionFailed, Hooks, Journal
from pipelines.local.history import History
from pipelines.local.rollout import Timing
from tests.local.test_rollout import _TEMPLATE, _Accounts, _image, prod_apply_run
from tests.support import FIXTURES

REGION, ACCOUNT = "eu-west-1", "123456789012"
STAGE = "POST_TEST_TRAFFIC_SHIFT"


def _template() -> dict[str, Any]:
    """The service of test_rollout.py, blue/green, with web's hook in prod as synth writes it."""
    template = copy.deepcopy(_TEMPLATE)
    configuration = template["Resources"]["Service"]["Properties"]["DeploymentConfiguration"]
    configuration.pop("CanaryConfiguration")
    configuration.pop("Alarms")
    configuration["Strategy"] = "BLUE_GREEN"
    configuration["LifecycleHooks"] = [
        {
            "HookTargetArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:shop-prod-runner-hook",
            "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/shop-prod-runner-hook",
            "LifecycleStages": [STAGE],
            "HookDetails": {"environment": "prod", "service": "web", "stage": STAGE},
        }
    ]
    return template


def _runners() -> Any:
    """The hooks fixture's runners.json, its prod target moved into moto's account."""
    text = (FIXTURES.parent / "golden" / "hooks" / "runners.json").read_text(encoding="utf-8")
    return load_document(text.replace("333333333333", ACCOUNT))


def _runner_stack(ec2: Any, cfn: Any, ecs: Any) -> None:
    """What the invoker reads of prod's runner stack: its security group output, the smoke
    runner's task definition."""
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    body = {
        "Resources": {
            "Group": {
                "Type": "AWS::EC2::SecurityGroup",
                "Properties": {"GroupDescription": "runner tasks", "VpcId": vpc},
            }
        },
        "Outputs": {
            naming.RUNNER_SECURITY_GROUP_OUTPUT: {"Value": {"Fn::GetAtt": ["Group", "GroupId"]}}
        },
    }
    cfn.create_stack(StackName="shop-prod-runner", TemplateBody=json.dumps(body))
    ecs.register_task_definition(
        family="shop-prod-runner-smoke",
        taskRoleArn=f"arn:aws:iam::{ACCOUNT}:role/shop-prod-runner-smoke-task",
        containerDefinitions=[{"name": names.CONTAINER, "image": "smoke:1.0", "memory": 512}],
    )


def _deploy(cfn: Any, image: str) -> None:
    change_set = create_change_set(
        cfn,
        "shop-prod-web",
        change_set_type(describe(cfn, "shop-prod-web")),
        f"release-{image[-3:]}",
        template={"TemplateBody": json.dumps(_template())},
        parameters=[{"ParameterKey": "ImageUri", "ParameterValue": image}],
        capabilities=(),
        tags=None,
        description="test",
    )
    assert change_set is not None
    assert execute(cfn, change_set, lambda stack, event: None).ok


def _roll_out(fail: set[str]) -> tuple[Any, Any, Any, list[str], Context]:
    cfn = boto3.client("cloudformation", region_name=REGION)
    ecs = boto3.client("ecs", region_name=REGION)
    _runner_stack(boto3.client("ec2", region_name=REGION), cfn, ecs)
    _deploy(cfn, "repo@sha256:old")
    before = service_before(cfn, ecs, ACCOUNT, REGION, "shop-prod-web")
    assert before is not None
    _deploy(cfn, "repo@sha256:new")
    lines: list[str] = []
    context = Context(
        ActionClients(_Accounts(), ACCOUNT, REGION),
        Journal(lines.append),
        Hooks(
            approve=None,
            inject_failure=lambda key: "the smoke test failed" if key in fail else None,
            echo=lines.append,
        ),
        ACCOUNT,
        _runners(),
        History(),
        timing=Timing(bake_seconds_per_minute=0.001),
    )
    run = prod_apply_run()
    return run, before, (cfn, ecs), lines, context


@mock_aws
def test_a_passing_hook_job_lets_the_deployment_complete() -> None:
    with cloudformation_like_change_sets():
        run, before, (cfn, ecs), lines, context = _roll_out(set())
        assert roll_out(context, run, cfn, ecs, before) == (
            "blue_green deployment of shop-prod-web completed"
        )
        assert _image(ecs) == "repo@sha256:new"
        assert any(f"lifecycle hook {STAGE}: stood in: smoke.run" in line for line in lines)
        [brief] = context.deployments.listed("shop-prod", "shop-prod-web")
        assert brief["status"] == "SUCCESSFUL"


@mock_aws
def test_a_failing_hook_job_rolls_the_deployment_back() -> None:
    with cloudformation_like_change_sets():
        run, before, (cfn, ecs), lines, context = _roll_out(
            {hook_failure_key("shop-prod-web", STAGE)}
        )
        with pytest.raises(
            ActionFailed,
            match=f"ECS rolled the deployment of shop-prod-web back \\(lifecycle hook at {STAGE} "
            "failed: smoke.run failed \\(the smoke test failed\\)\\)",
        ):
            roll_out(context, run, cfn, ecs, before)
        [service] = ecs.describe_services(cluster="shop-prod", services=["shop-prod-web"])[
            "services"
        ]
        assert service["taskDefinition"] == before.task_definition
        assert _image(ecs) == "repo@sha256:old"
        [brief] = context.deployments.listed("shop-prod", "shop-prod-web")
        assert brief["status"] == "ROLLBACK_SUCCESSFUL"
        [described], _ = context.deployments.described([brief["serviceDeploymentArn"]])
        assert described["lifecycleStage"] == "CLEAN_UP"
        assert "rolls the deployment back" in "\n".join(lines)


@mock_aws
def test_a_hook_the_invoker_would_refuse_rolls_the_deployment_back() -> None:
    """The template's hook is not one runners.json declares: the invoker refuses it, so ECS
    gets FAILED."""
    with cloudformation_like_change_sets():
        run, before, (cfn, ecs), _, context = _roll_out(set())
        document = _runners()
        targets = {**document.targets}
        targets["prod"] = dataclasses.replace(targets["prod"], hooks={})
        context = dataclasses.replace(
            context, runners=dataclasses.replace(document, targets=targets)
        )
        with pytest.raises(ActionFailed, match="refused: web declares no hook at"):
            roll_out(context, run, cfn, ecs, before)
        assert _image(ecs) == "repo@sha256:old"
