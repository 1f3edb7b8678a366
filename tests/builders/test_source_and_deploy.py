import json

from tests.support import template


def test_repository_defaults(syntheses) -> None:
    repo = template(syntheses["example"], "shop-source")["Resources"]["Repository"]
    props = repo["Properties"]
    assert props["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert props["ImageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert props["ImageTagMutabilityExclusionFilters"] == [
        {
            "ImageTagMutabilityExclusionFilterType": "WILDCARD",
            "ImageTagMutabilityExclusionFilterValue": "release",
        },
        {
            "ImageTagMutabilityExclusionFilterType": "WILDCARD",
            "ImageTagMutabilityExclusionFilterValue": "deployed-*",
        },
    ]
    # The deployed-* rule first (tests/builders/test_release_marker.py), then keep_images.
    rule = json.loads(props["LifecyclePolicy"]["LifecyclePolicyText"])["rules"][-1]
    assert rule["selection"]["countNumber"] == 50
    (pull,) = props["RepositoryPolicyText"]["Statement"]
    assert pull["Principal"]["AWS"] == [
        "arn:aws:iam::222222222222:root",
        "arn:aws:iam::333333333333:root",
    ]
    assert repo["DeletionPolicy"] == "Retain"
    assert "PushRole" not in template(syntheses["example"], "shop-source")["Resources"]


def test_single_account_needs_no_repository_policy(syntheses) -> None:
    props = template(syntheses["single-account"], "notes-source")["Resources"]["Repository"]
    assert "RepositoryPolicyText" not in props["Properties"]


def test_push_role_trusts_only_the_configured_ci(syntheses) -> None:
    role = template(syntheses["multi-account"], "payments-source")["Resources"]["PushRole"]
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": ["arn:aws:iam::900000000009:root"]}
    assert trust["Condition"] == {
        "ArnEquals": {"aws:PrincipalArn": ["arn:aws:iam::900000000009:role/github-actions"]}
    }


def test_deploy_role_is_assumable_only_by_the_pipeline_role(syntheses) -> None:
    body = template(syntheses["example"], "shop-prod-deploy")
    role = body["Resources"]["DeployRole"]["Properties"]
    assert role["RoleName"] == "shop-prod-deploy"
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Condition"]["ArnEquals"]["aws:PrincipalArn"] == [
        "arn:aws:iam::111111111111:role/shop-pipeline"
    ]
    statements = role["Policies"][0]["PolicyDocument"]["Statement"]
    allowed, denied = (
        next(
            s["Resource"]
            for s in statements
            if s["Effect"] == effect and "cloudformation:ExecuteChangeSet" in s["Action"]
        )
        for effect in ("Allow", "Deny")
    )
    # the environment's stacks by their prefix (its size does not grow with the services) ...
    assert allowed == ["arn:aws:cloudformation:eu-west-1:333333333333:stack/shop-prod-*/*"]
    # ... but never this deploy stack itself, nor the environment's runner stack
    assert denied == [
        "arn:aws:cloudformation:eu-west-1:333333333333:stack/shop-prod-deploy/*",
        "arn:aws:cloudformation:eu-west-1:333333333333:stack/shop-prod-runner/*",
    ]


def test_cloudformation_role_manages_exactly_the_service_resources(syntheses) -> None:
    body = template(syntheses["no-load-balancer"], "jobs-prod-deploy")
    statements = body["Resources"]["CloudFormationRole"]["Properties"]["Policies"][0][
        "PolicyDocument"
    ]["Statement"]
    by_action = {
        a: s["Resource"] for s in statements if s["Effect"] == "Allow" for a in s["Action"]
    }
    # roles by the environment's prefix, and only under the environment's boundary
    assert by_action["iam:PutRolePolicy"] == [
        "arn:aws:iam::600000000006:role/jobs-prod-*-exec",
        "arn:aws:iam::600000000006:role/jobs-prod-*-task",
    ]
    [put] = [s for s in statements if "iam:PutRolePolicy" in s["Action"] and s["Effect"] == "Allow"]
    # ... and never on the runner's roles, which the prefix also reaches
    [denied] = [
        s for s in statements if "iam:PutRolePolicy" in s["Action"] and s["Effect"] == "Deny"
    ]
    assert denied["Resource"] == ["arn:aws:iam::600000000006:role/jobs-prod-runner-*"]
    assert put["Condition"] == {
        "StringEquals": {
            "iam:PermissionsBoundary": "arn:aws:iam::600000000006:policy/jobs-prod-service-boundary"
        }
    }
    for service in ("scheduler", "worker"):
        roles = template(syntheses["no-load-balancer"], f"jobs-prod-{service}")["Resources"]
        for role in ("ExecutionRole", "TaskRole"):
            assert (
                roles[role]["Properties"]["PermissionsBoundary"]
                == put["Condition"]["StringEquals"]["iam:PermissionsBoundary"]
            )
    # the existing cluster is only looked at, never created or deleted
    assert by_action["ecs:DescribeClusters"] == [
        "arn:aws:ecs:ap-southeast-2:600000000006:cluster/jobs-prod"
    ]
    assert "ecs:CreateCluster" not in by_action and "ecs:DeleteCluster" not in by_action
    # no load balancer configured: no load balancer permissions
    assert not any(a.startswith("elasticloadbalancing:Create") for a in by_action)
