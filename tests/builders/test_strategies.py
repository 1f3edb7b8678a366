"""ECS's own deployment strategies in the service and deploy stacks (tests/fixtures/valid/
progressive: linear in dev, blue/green in staging, canary in prod, a test header everywhere)."""

from __future__ import annotations

from typing import Any

from tests.support import resources_of_type, template

PROD_LISTENER = (
    "arn:aws:elasticloadbalancing:eu-west-1:333333333333:listener/app/shop/0123456789abcdef/"
    "0123456789abcdef"
)


def _service(body: dict[str, Any]) -> dict[str, Any]:
    (service,) = resources_of_type(body, "AWS::ECS::Service").values()
    properties: dict[str, Any] = service["Properties"]
    return properties


def _granted(policy_document: dict[str, Any]) -> dict[str, list[Any]]:
    return {
        action: statement["Resource"]
        for statement in policy_document["Statement"]
        if statement["Effect"] == "Allow"
        for action in statement["Action"]
    }


def test_each_environment_gets_its_strategy_and_timing(syntheses) -> None:
    progressive = syntheses["progressive"]
    dev = _service(template(progressive, "shop-dev-web"))["DeploymentConfiguration"]
    assert (dev["Strategy"], dev["BakeTimeInMinutes"]) == ("LINEAR", 5)
    assert dev["LinearConfiguration"] == {"StepBakeTimeInMinutes": 1, "StepPercent": 25.0}
    staging = _service(template(progressive, "shop-staging-web"))["DeploymentConfiguration"]
    assert (staging["Strategy"], staging["BakeTimeInMinutes"]) == ("BLUE_GREEN", 5)
    assert "CanaryConfiguration" not in staging and "LinearConfiguration" not in staging
    prod = _service(template(progressive, "shop-prod-web"))["DeploymentConfiguration"]
    assert prod["Strategy"] == "CANARY"
    assert prod["CanaryConfiguration"] == {"CanaryBakeTimeInMinutes": 15, "CanaryPercent": 10.0}
    # the environment's alarms roll a canary back as they do a rolling update
    assert prod["Alarms"] == {"AlarmNames": ["shop-prod-5xx"], "Enable": True, "Rollback": True}
    # the circuit breaker only where ECS documents it: rolling and blue/green
    assert "DeploymentCircuitBreaker" not in prod and "DeploymentCircuitBreaker" not in dev
    assert staging["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}


def test_a_service_without_a_load_balancer_keeps_rolling(syntheses) -> None:
    worker = _service(template(syntheses["progressive"], "shop-prod-worker"))
    assert "Strategy" not in worker["DeploymentConfiguration"]
    rolling = template(syntheses["example"], "shop-staging-web")
    assert "Strategy" not in _service(rolling)["DeploymentConfiguration"]
    assert resources_of_type(rolling, "AWS::IAM::Role").keys() == {"ExecutionRole", "TaskRole"}


def test_two_target_groups_and_weighted_rules_ecs_shifts(syntheses) -> None:
    body = template(syntheses["progressive"], "shop-prod-web")
    groups = resources_of_type(body, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert groups.keys() == {"TargetGroup", "AlternateTargetGroup"}
    primary, alternate = (groups[t]["Properties"] for t in ("TargetGroup", "AlternateTargetGroup"))
    assert primary == alternate  # the green revision is checked exactly as the blue one
    rules = resources_of_type(body, "AWS::ElasticLoadBalancingV2::ListenerRule")
    production, test = rules["ListenerRule"]["Properties"], rules["TestListenerRule"]["Properties"]
    forward = {
        "Type": "forward",
        "ForwardConfig": {
            "TargetGroups": [
                {"TargetGroupArn": {"Ref": "TargetGroup"}, "Weight": 1},
                {"TargetGroupArn": {"Ref": "AlternateTargetGroup"}, "Weight": 0},
            ]
        },
    }
    assert production["Actions"] == test["Actions"] == [forward]
    # the test rule is evaluated first, and matches only requests with the header
    assert (test["Priority"], production["Priority"]) == (10, 11)
    assert test["Conditions"][-1] == {
        "Field": "http-header",
        "HttpHeaderConfig": {"HttpHeaderName": "X-Release-Test", "Values": ["1"]},
    }
    assert test["Conditions"][:-1] == production["Conditions"]
    (balancer,) = _service(body)["LoadBalancers"]
    assert balancer["AdvancedConfiguration"] == {
        "AlternateTargetGroupArn": {"Ref": "AlternateTargetGroup"},
        "ProductionListenerRule": {"Ref": "ListenerRule"},
        "TestListenerRule": {"Ref": "TestListenerRule"},
        "RoleArn": {"Fn::GetAtt": ["TrafficShiftRole", "Arn"]},
    }


def test_the_traffic_shift_role_reaches_only_its_own_groups_and_rules(syntheses) -> None:
    body = template(syntheses["progressive"], "shop-prod-web")
    role = body["Resources"]["TrafficShiftRole"]["Properties"]
    assert role["RoleName"] == "shop-prod-web-lb"
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "ecs.amazonaws.com"
    }
    assert role["PermissionsBoundary"].endswith(":policy/shop-prod-service-boundary")
    granted = _granted(role["Policies"][0]["PolicyDocument"])
    assert granted["elasticloadbalancing:RegisterTargets"] == [
        {"Ref": "TargetGroup"},
        {"Ref": "AlternateTargetGroup"},
    ]
    assert granted["elasticloadbalancing:ModifyRule"] == [
        {"Ref": "ListenerRule"},
        {"Ref": "TestListenerRule"},
    ]
    assert granted["elasticloadbalancing:DescribeRules"] == ["*"]
    assert "elasticloadbalancing:ModifyListener" not in granted


def test_the_cloudformation_role_and_boundary_admit_exactly_the_shift(syntheses) -> None:
    body = template(syntheses["progressive"], "shop-prod-deploy")
    cfn = body["Resources"]["CloudFormationRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    statements = cfn["Statement"]
    assert _granted(cfn)["iam:PutRolePolicy"] == [
        "arn:aws:iam::333333333333:role/shop-prod-*-exec",
        "arn:aws:iam::333333333333:role/shop-prod-*-task",
        "arn:aws:iam::333333333333:role/shop-prod-*-lb",
    ]
    passes = {
        s["Condition"]["StringEquals"]["iam:PassedToService"]: s["Resource"]
        for s in statements
        if s["Action"] == ["iam:PassRole"]
    }
    # task roles go to ECS tasks, the traffic-shift roles to ECS itself, and not the reverse
    assert passes["ecs.amazonaws.com"] == ["arn:aws:iam::333333333333:role/shop-prod-*-lb"]
    assert "arn:aws:iam::333333333333:role/shop-prod-*-lb" not in passes["ecs-tasks.amazonaws.com"]
    boundary = _granted(body["Resources"]["ServiceBoundary"]["Properties"]["PolicyDocument"])
    assert boundary["elasticloadbalancing:ModifyRule"] == [
        PROD_LISTENER.replace(":listener/", ":listener-rule/") + "/*"
    ]
    assert boundary["elasticloadbalancing:RegisterTargets"] == [
        "arn:aws:elasticloadbalancing:eu-west-1:333333333333:targetgroup/*/*"
    ]
    # an environment whose services all roll admits none of it
    rolling = template(syntheses["example"], "shop-staging-deploy")
    rolling_cfn = rolling["Resources"]["CloudFormationRole"]["Properties"]["Policies"][0]
    assert not any(
        r.endswith("-lb") for r in _granted(rolling_cfn["PolicyDocument"])["iam:PutRolePolicy"]
    )
    rolling_boundary = rolling["Resources"]["ServiceBoundary"]["Properties"]["PolicyDocument"]
    assert "elasticloadbalancing:ModifyRule" not in _granted(rolling_boundary)


def _stages(syntheses: Any, config: str, app: str) -> dict[str, dict[str, Any]]:
    body = template(syntheses[config], f"{app}-pipeline")
    stages = body["Resources"]["Pipeline"]["Properties"]["Stages"]
    return {stage["Name"]: stage for stage in stages}


def test_a_deployment_window_holds_releases_at_the_entry_of_prod(syntheses) -> None:
    stages = _stages(syntheses, "progressive", "shop")
    assert stages["prod"]["BeforeEntry"] == {
        "Conditions": [
            {
                "Result": "FAIL",
                "Rules": [
                    {
                        "Name": "DeployWindow-prod",
                        "RuleTypeId": {
                            "Category": "Rule",
                            "Owner": "AWS",
                            "Provider": "DeploymentWindow",
                            "Version": "1",
                        },
                        # cron(...) as written is unwrapped: the rule takes the fields alone
                        "Configuration": {
                            "Cron": "0 * 9-16 ? * MON-THU *",
                            "TimeZone": "Europe/Berlin",
                        },
                    }
                ],
            }
        ]
    }
    assert "BeforeEntry" not in stages["staging"] and "BeforeEntry" not in stages["dev"]


def test_an_approval_timeout_reaches_only_its_environment(syntheses) -> None:
    stages = _stages(syntheses, "progressive", "shop")

    def approval(stage: str) -> dict[str, Any]:
        (action,) = [
            a for a in stages[stage]["Actions"] if a["ActionTypeId"]["Category"] == "Approval"
        ]
        return action

    assert approval("staging")["TimeoutInMinutes"] == 240
    assert "TimeoutInMinutes" not in approval("prod")  # CodePipeline's 7 days
