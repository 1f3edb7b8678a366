"""ECS's strategies as the rehearsal models them (rollout.py, actions/deployment.py): the
phases of each strategy, the scaled bakes with their alarm watch, and the alarm rollback on an
embedded AWS: the service returns to its previous task definition and the action fails."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from pipelines.aws.cloudformation import change_set_type, create_change_set, describe, execute
from pipelines.local.actions.context import ActionRun, Context
from pipelines.local.actions.deployment import roll_out, service_before
from pipelines.local.changesets import cloudformation_like_change_sets
from pipelines.local.clients import ActionClients, session_client
from pipelines.local.declaration import Action, Stage, TypeId
from pipelines.local.execution import ActionFailed, Execution, Hooks, Journal
from pipelines.local.history import History
from pipelines.local.rollout import Phase, Timing, linear_steps, phases, watch_phases

REGION, ACCOUNT = "eu-west-1", "123456789012"


def test_canary_bakes_its_percent_then_all_traffic() -> None:
    configuration = {
        "Strategy": "CANARY",
        "BakeTimeInMinutes": 5,
        "CanaryConfiguration": {"CanaryPercent": 10.0, "CanaryBakeTimeInMinutes": 15},
    }
    assert [(p.lifecycle_stage, p.percent, p.minutes) for p in phases(configuration)] == [
        ("PRODUCTION_TRAFFIC_SHIFT", 10.0, 15),
        ("BAKE_TIME", 100.0, 5),
    ]


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (25.0, [25.0, 50.0, 75.0]),  # divides 100: 100 / 25 - 1 steps
        (11.0, [11.0, 22.0, 33.0, 44.0, 55.0, 66.0, 77.0, 88.0, 99.0]),  # floor(100 / 11)
        (30.0, [30.0, 60.0, 90.0]),
        (100.0, []),
    ],
)
def test_linear_steps_are_the_ones_cloudformation_counts(
    step: float, expected: list[float]
) -> None:
    assert linear_steps(step) == expected


def test_linear_bakes_each_step_then_all_traffic_blue_green_only_the_last() -> None:
    linear = {
        "Strategy": "LINEAR",
        "BakeTimeInMinutes": 3,
        "LinearConfiguration": {"StepPercent": 50.0, "StepBakeTimeInMinutes": 2},
    }
    assert [(p.percent, p.minutes) for p in phases(linear)] == [(50.0, 2), (100.0, 3)]
    assert [(p.percent, p.minutes) for p in phases({"Strategy": "BLUE_GREEN"})] == [(100.0, 15)]
    assert phases({"Strategy": "ROLLING"}) == phases({}) == []


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_bakes_are_scaled_and_an_alarm_ends_the_deployment_in_its_phase() -> None:
    steps = [Phase("PRODUCTION_TRAFFIC_SHIFT", 10.0, 15, "canary"), Phase("BAKE_TIME", 100, 5, "x")]
    clock, entered = _Clock(), []
    timing = Timing(bake_seconds_per_minute=0.1)

    def quiet() -> list[str]:
        return []

    breach = watch_phases(
        steps, quiet, timing, lambda p, s: entered.append((p.label, s)), clock, clock.sleep
    )
    assert breach is None
    assert entered == [("canary", 1.5), ("x", 0.5)]
    assert clock.now == pytest.approx(2.0)

    clock = _Clock()

    def after_a_second() -> list[str]:  # the alarm goes off 1 s into the canary's bake
        return ["5xx"] if clock.now >= 1.0 else []

    breach = watch_phases(steps, after_a_second, timing, lambda p, s: None, clock, clock.sleep)
    assert breach is not None and breach.phase.label == "canary" and breach.alarms == ("5xx",)
    assert clock.now < 1.5


_TEMPLATE = {
    "Parameters": {"ImageUri": {"Type": "String"}},
    "Resources": {
        "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {"ClusterName": "shop-prod"}},
        "TaskDefinition": {
            "Type": "AWS::ECS::TaskDefinition",
            "Properties": {
                "Family": "shop-prod-web",
                "ContainerDefinitions": [
                    {"Name": "web", "Image": {"Ref": "ImageUri"}, "Memory": 512}
                ],
            },
        },
        "Service": {
            "Type": "AWS::ECS::Service",
            "Properties": {
                "Cluster": {"Ref": "Cluster"},
                "ServiceName": "shop-prod-web",
                "TaskDefinition": {"Ref": "TaskDefinition"},
                "DesiredCount": 1,
                "DeploymentConfiguration": {
                    "Strategy": "CANARY",
                    "BakeTimeInMinutes": 5,
                    "CanaryConfiguration": {"CanaryPercent": 10, "CanaryBakeTimeInMinutes": 15},
                    "Alarms": {"AlarmNames": ["shop-prod-5xx"], "Enable": True, "Rollback": True},
                },
            },
        },
    },
    "Outputs": {
        "ClusterName": {"Value": {"Ref": "Cluster"}},
        "ServiceName": {"Value": {"Fn::GetAtt": ["Service", "Name"]}},
    },
}


class _Accounts:
    def client(self, service: str, account: str, region: str) -> Any:
        return session_client(boto3.Session(), service, region_name=region)


def _deploy(cfn: Any, image: str) -> None:
    """As the CloudFormation action deploys: a change set, created and executed."""
    change_set = create_change_set(
        cfn,
        "shop-prod-web",
        change_set_type(describe(cfn, "shop-prod-web")),
        f"release-{image[-3:]}",
        template={"TemplateBody": json.dumps(_TEMPLATE)},
        parameters=[{"ParameterKey": "ImageUri", "ParameterValue": image}],
        capabilities=(),
        tags=None,
        description="test",
    )
    assert change_set is not None
    assert execute(cfn, change_set, lambda stack, event: None).ok


def _image(ecs: Any) -> str:
    [service] = ecs.describe_services(cluster="shop-prod", services=["shop-prod-web"])["services"]
    definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])
    return str(definition["taskDefinition"]["containerDefinitions"][0]["image"])


@mock_aws
def test_an_alarm_during_a_bake_rolls_the_service_back_and_fails_the_action() -> None:
    with cloudformation_like_change_sets():
        _alarm_during_a_bake()


def _alarm_during_a_bake() -> None:
    cfn = boto3.client("cloudformation", region_name=REGION)
    ecs = boto3.client("ecs", region_name=REGION)
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    cloudwatch.put_metric_alarm(
        AlarmName="shop-prod-5xx",
        MetricName="HTTPCode_Target_5XX_Count",
        Namespace="AWS/ApplicationELB",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    _deploy(cfn, "repo@sha256:old")
    before = service_before(cfn, ecs, ACCOUNT, REGION, "shop-prod-web")
    assert before is not None
    _deploy(cfn, "repo@sha256:new")
    assert _image(ecs) == "repo@sha256:new"
    cloudwatch.set_alarm_state(
        AlarmName="shop-prod-5xx", StateValue="ALARM", StateReason="errors during the canary"
    )
    lines: list[str] = []
    context = Context(
        ActionClients(_Accounts(), ACCOUNT, REGION),
        Journal(lines.append),
        Hooks(approve=None, inject_failure=lambda stack: None, echo=lines.append),
        ACCOUNT,
        None,
        History(),
        timing=Timing(bake_seconds_per_minute=0.001),
    )
    run = prod_apply_run()
    with pytest.raises(ActionFailed, match="alarm shop-prod-5xx in ALARM during canary"):
        roll_out(context, run, cfn, ecs, before)
    [service] = ecs.describe_services(cluster="shop-prod", services=["shop-prod-web"])["services"]
    assert service["taskDefinition"] == before.task_definition
    assert _image(ecs) == "repo@sha256:old"
    [stack] = cfn.describe_stacks(StackName="shop-prod-web")["Stacks"]
    assert stack["Parameters"][0]["ParameterValue"] == "repo@sha256:old"
    # What ECS's API answers about it: rolled back, in the canary's phase, the alarm named.
    [brief] = context.deployments.listed("shop-prod", "shop-prod-web")
    assert brief["status"] == "ROLLBACK_SUCCESSFUL"
    [described], failures = context.deployments.described([brief["serviceDeploymentArn"]])
    assert failures == []
    assert described["alarms"]["triggeredAlarmNames"] == ["shop-prod-5xx"]
    assert described["deploymentConfiguration"]["strategy"] == "CANARY"
    assert any("traffic shifting itself is not emulated" in line for line in lines)


def test_the_sandboxs_ecs_answers_are_in_botocores_shapes() -> None:
    from botocore.stub import Stubber

    from pipelines.local.rollout import Deployments
    from pipelines.local.service import EcsDeploymentsService

    deployments = Deployments()
    prefix = f"arn:aws:ecs:{REGION}:{ACCOUNT}"
    configuration = {
        "Strategy": "LINEAR",
        "BakeTimeInMinutes": 5,
        "LinearConfiguration": {"StepPercent": 25, "StepBakeTimeInMinutes": 1},
        "Alarms": {"AlarmNames": ["a"], "Enable": True, "Rollback": True},
    }
    deployment = deployments.start(
        f"{prefix}:service/shop-dev/shop-dev-web",
        f"{prefix}:cluster/shop-dev",
        f"{prefix}:task-definition/web:1",
        f"{prefix}:task-definition/web:2",
        configuration,
    )
    deployments.update(deployment, lifecycle_stage="PRODUCTION_TRAFFIC_SHIFT", percent=25.0)

    class _Interpreter:
        class context:
            pass

    _Interpreter.context.deployments = deployments  # type: ignore[attr-defined]
    ecs_api = EcsDeploymentsService(_Interpreter)  # type: ignore[arg-type]
    listed = ecs_api.call(
        "ListServiceDeployments",
        {"cluster": "shop-dev", "service": "shop-dev-web", "status": ["IN_PROGRESS"]},
    )
    described = ecs_api.call(
        "DescribeServiceDeployments",
        {"serviceDeploymentArns": [deployment.arn, f"{prefix}:service-deployment/x/y/z"]},
    )
    ecs = session_client(boto3.Session(), "ecs", region_name=REGION)
    stubber = Stubber(ecs)
    stubber.add_response("list_service_deployments", listed)  # validated against the model
    stubber.add_response("describe_service_deployments", described)
    [answer] = described["serviceDeployments"]
    assert answer["lifecycleStage"] == "PRODUCTION_TRAFFIC_SHIFT"
    assert answer["targetServiceRevision"]["requestedProductionTrafficWeight"] == 25.0
    assert described["failures"][0]["reason"] == "MISSING"
    assert [d["status"] for d in listed["serviceDeployments"]] == ["IN_PROGRESS"]
    assert ecs_api.call("ListServiceDeployments", {"service": "other"}) == {
        "serviceDeployments": []
    }


def prod_apply_run() -> ActionRun:
    """The run of prod's Apply-web action in a first execution, as the interpreter makes it."""
    action = Action(
        "Apply-web", TypeId("Deploy", "AWS", "CloudFormation", "1"), 1, {}, (), (), None, None, None
    )
    return ActionRun(
        Execution(1, "exec-1", "sha256:" + "b" * 64),
        Stage("prod", (action,), None, None),
        action,
        {},
        REGION,
    )
