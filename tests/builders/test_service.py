from tests.support import resources_of_type, template


def _one(body, kind):
    (resource,) = resources_of_type(body, kind).values()
    return resource["Properties"]


def test_service_runs_the_digest_parameter_on_fargate(syntheses) -> None:
    body = template(syntheses["example"], "shop-prod-web")
    assert body["Parameters"]["ImageUri"]["AllowedPattern"] == r"^[^@\s]+@sha256:[0-9a-f]{64}$"
    task = _one(body, "AWS::ECS::TaskDefinition")
    assert (task["Cpu"], task["Memory"], task["NetworkMode"]) == ("256", "512", "awsvpc")
    assert task["RequiresCompatibilities"] == ["FARGATE"]
    (container,) = task["ContainerDefinitions"]
    assert container["Image"] == {"Ref": "ImageUri"}
    assert container["ReadonlyRootFilesystem"] is True
    assert container["Command"] == ["gunicorn", "app:app"]
    # prod's own LOG_LEVEL overrides pipeline.yaml's
    assert container["Environment"] == [{"Name": "LOG_LEVEL", "Value": "warn"}]
    assert container["Secrets"] == [
        {
            "Name": "DB_PASSWORD",
            "ValueFrom": "arn:aws:secretsmanager:eu-west-1:333333333333:secret:shop/db",
        }
    ]


def test_deployment_has_circuit_breaker_alarms_and_safe_percentages(syntheses) -> None:
    staging = _one(template(syntheses["example"], "shop-staging-web"), "AWS::ECS::Service")
    rolling = staging["DeploymentConfiguration"]
    assert rolling["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    assert (rolling["MinimumHealthyPercent"], rolling["MaximumPercent"]) == (100, 200)
    prod = _one(template(syntheses["example"], "shop-prod-web"), "AWS::ECS::Service")
    config = prod["DeploymentConfiguration"]
    assert config["Alarms"] == {"AlarmNames": ["shop-prod-5xx"], "Enable": True, "Rollback": True}
    assert prod["DesiredCount"] == 3
    network = prod["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "DISABLED"
    dev = _one(template(syntheses["example"], "shop-dev-web"), "AWS::ECS::Service")
    assert "Alarms" not in dev["DeploymentConfiguration"]
    assert "LoadBalancers" not in dev


def test_ingress_only_from_the_load_balancer(syntheses) -> None:
    prod = _one(template(syntheses["example"], "shop-prod-web"), "AWS::EC2::SecurityGroup")
    assert prod["SecurityGroupIngress"] == [
        {
            "Description": "Traffic from the load balancer only",
            "FromPort": 8080,
            "IpProtocol": "tcp",
            "SourceSecurityGroupId": "sg-0f1e2d3c4b5a60101",
            "ToPort": 8080,
        }
    ]
    dev = _one(template(syntheses["example"], "shop-dev-web"), "AWS::EC2::SecurityGroup")
    assert "SecurityGroupIngress" not in dev


def test_load_balancer_routing_from_config(syntheses) -> None:
    body = template(syntheses["example"], "shop-staging-web")
    group = _one(body, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert (group["TargetType"], group["Port"], group["HealthCheckPath"]) == (
        "ip",
        8080,
        "/healthz",
    )
    rule = _one(body, "AWS::ElasticLoadBalancingV2::ListenerRule")
    assert rule["Priority"] == 10
    assert rule["Conditions"] == [
        {"Field": "host-header", "HostHeaderConfig": {"Values": ["staging.shop.example.com"]}}
    ]
    service = body["Resources"]["Service"]
    assert service["DependsOn"] == ["ListenerRule"]


def test_execution_role_reads_only_the_named_secrets(syntheses) -> None:
    body = template(syntheses["example"], "shop-prod-web")
    role = body["Resources"]["ExecutionRole"]["Properties"]
    granted = {
        action: statement["Resource"]
        for statement in role["Policies"][0]["PolicyDocument"]["Statement"]
        for action in statement["Action"]
    }
    secret = "arn:aws:secretsmanager:eu-west-1:333333333333:secret:shop/db"
    assert granted["secretsmanager:GetSecretValue"] == [secret, secret + "-??????"]
    assert granted["ecr:BatchGetImage"] == [
        "arn:aws:ecr:eu-west-1:111111111111:repository/shop-web"
    ]
    dev_role = template(syntheses["example"], "shop-dev-web")["Resources"]["ExecutionRole"]
    dev_actions = {
        a
        for s in dev_role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        for a in s["Action"]
    }
    assert "secretsmanager:GetSecretValue" not in dev_actions


def test_existing_cluster_is_used_not_created(syntheses) -> None:
    body = template(syntheses["no-load-balancer"], "jobs-prod-worker")
    assert resources_of_type(body, "AWS::ECS::Cluster") == {}
    assert _one(body, "AWS::ECS::Service")["Cluster"] == "jobs-prod"
    staging = template(syntheses["no-load-balancer"], "jobs-staging-worker")
    cluster = _one(staging, "AWS::ECS::Cluster")
    assert cluster["ClusterName"] == "jobs-staging-worker"


def test_public_ip_is_opt_in_and_recorded(syntheses) -> None:
    body = template(syntheses["single-account"], "notes-dev-api")
    service = body["Resources"]["Service"]
    assert (
        service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"]
        == "ENABLED"
    )
    (skip,) = service["Metadata"]["checkov"]["skip"]
    assert skip["id"] == "CKV_AWS_333" and "public_ip" in skip["comment"]


def test_ssm_parameter_secrets_get_ssm_permission(syntheses) -> None:
    body = template(syntheses["single-account"], "notes-prod-api")
    statements = body["Resources"]["ExecutionRole"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"
    ]
    ssm = [s for s in statements if s["Action"] == ["ssm:GetParameters"]]
    assert ssm[0]["Resource"] == ["arn:aws:ssm:us-east-1:123456789012:parameter/notes/api-key"]


def test_rollout_defaults_reach_the_templates(syntheses) -> None:
    body = template(syntheses["example"], "shop-staging-web")
    group = _one(body, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert (
        group["HealthCheckIntervalSeconds"],
        group["HealthCheckTimeoutSeconds"],
        group["HealthyThresholdCount"],
        group["UnhealthyThresholdCount"],
    ) == (10, 5, 2, 3)
    assert group["TargetGroupAttributes"] == [
        {"Key": "deregistration_delay.timeout_seconds", "Value": "30"}
    ]
    (container,) = _one(body, "AWS::ECS::TaskDefinition")["ContainerDefinitions"]
    assert container["StopTimeout"] == 10
    assert _one(body, "AWS::ECS::Service")["HealthCheckGracePeriodSeconds"] == 30


def test_environment_rollout_overrides_pipeline_rollout(syntheses) -> None:
    test = template(syntheses["rollout-maximum"], "edge-max-test-api")
    live = template(syntheses["rollout-maximum"], "edge-max-live-api")
    test_service, live_service = (_one(b, "AWS::ECS::Service") for b in (test, live))
    # test.yaml overrides three keys; the rest come from pipeline.yaml
    assert test_service["DeploymentConfiguration"]["MinimumHealthyPercent"] == 0
    assert test_service["DeploymentConfiguration"]["MaximumPercent"] == 100
    assert live_service["DeploymentConfiguration"]["MinimumHealthyPercent"] == 100
    test_group = _one(test, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert test_group["TargetGroupAttributes"][0]["Value"] == "0"
    assert test_group["HealthCheckIntervalSeconds"] == 300
    live_group = _one(live, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert live_group["TargetGroupAttributes"][0]["Value"] == "3600"


def test_task_role_gets_the_configured_permissions(syntheses) -> None:
    def statements(stack):
        role = template(syntheses["multi-account"], stack)["Resources"]["TaskRole"]["Properties"]
        return [
            (s["Action"], s["Resource"])
            for p in role.get("Policies", [])
            for s in p["PolicyDocument"]["Statement"]
        ]

    receipts = (["s3:GetObject", "s3:PutObject"], ["arn:aws:s3:::payments-receipts/*"])
    assert statements("payments-dev-api") == [receipts]
    # prod-eu adds its own statement after pipeline.yaml's
    assert statements("payments-prod-eu-api") == [
        receipts,
        (["sqs:SendMessage"], ["arn:aws:sqs:eu-central-1:300000000003:payments-settlements"]),
    ]
    example = template(syntheses["example"], "shop-prod-web")["Resources"]["TaskRole"]
    assert "Policies" not in example["Properties"]
