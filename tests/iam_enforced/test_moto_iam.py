"""What moto's IAM authorization checks by itself, what it does not, and what the harness
(enforcement.py) adds: each fact docs/testing-iam.md states, as a test, on a role of a few
statements. If a moto upgrade changes one of them, the test that states it fails.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core.authorization import enable_iam_authentication

from tests.iam_enforced.enforcement import Enforcement, HarnessError

ACCOUNT, OTHER = "222222222222", "333333333333"
REGION = "eu-west-1"
STACK_BODY = json.dumps(
    {"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "t"}}}}
)
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}

_shared: list[boto3.Session] = []


def _session() -> boto3.Session:
    if not _shared:  # one session for every client: service models load once
        _shared.append(boto3.Session())
    return _shared[0]


class Actor:
    """Clients with the credentials of an assumed role (that need not exist)."""

    def __init__(self, role_arn: str, via: Actor | None = None) -> None:
        sts = via.client("sts") if via else _session().client("sts", region_name=REGION)
        self.arn = role_arn
        self.credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="moto-iam")[
            "Credentials"
        ]

    def client(self, service: str) -> Any:
        c = self.credentials
        return _session().client(
            service,
            region_name=REGION,
            aws_access_key_id=c["AccessKeyId"],
            aws_secret_access_key=c["SecretAccessKey"],
            aws_session_token=c["SessionToken"],
        )


@pytest.fixture
def admin(fake_aws_credentials: None) -> Iterator[Actor]:
    """moto, and the harness's credentials in ACCOUNT (a role that does not exist)."""
    with mock_aws():
        admin = Actor(f"arn:aws:iam::{ACCOUNT}:role/harness")
        admin.client("cloudformation").create_stack(StackName="mine", TemplateBody=STACK_BODY)
        admin.client("cloudformation").create_stack(StackName="theirs", TemplateBody=STACK_BODY)
        yield admin


def _role(admin: Actor, name: str, *statements: dict[str, Any], trust: Any = None) -> str:
    iam = admin.client("iam")
    arn = iam.create_role(
        RoleName=name, AssumeRolePolicyDocument=json.dumps(trust or LAMBDA_TRUST)
    )["Role"]["Arn"]
    policy = {"Version": "2012-10-17", "Statement": list(statements)}
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    return arn


def _allow(actions: list[str], resources: list[str], **condition: Any) -> dict[str, Any]:
    statement = {"Effect": "Allow", "Action": actions, "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return statement


def _stack(name: str) -> str:
    return f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{name}/*"


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return error.value.response["Error"]["Code"]


# moto by itself -----------------------------------------------------------------------------


def test_moto_alone_asks_about_star_so_a_role_scoped_to_its_stack_is_denied(admin: Actor) -> None:
    arn = _role(admin, "deployer", _allow(["cloudformation:DescribeStacks"], [_stack("mine")]))
    cfn = Actor(arn, via=admin).client("cloudformation")
    with enable_iam_authentication(), pytest.raises(ClientError) as denied:
        cfn.describe_stacks(StackName="mine")
    assert _code(denied) == "AccessDenied"


def test_moto_alone_names_cloudwatch_actions_after_the_signing_name(admin: Actor) -> None:
    arn = _role(admin, "watcher", _allow(["cloudwatch:DescribeAlarms"], ["*"]))
    cloudwatch = Actor(arn, via=admin).client("cloudwatch")
    with enable_iam_authentication(), pytest.raises(ClientError) as denied:
        cloudwatch.describe_alarms()
    assert "monitoring:DescribeAlarms" in str(denied.value)
    with Enforcement([arn]):
        cloudwatch.describe_alarms()


def test_moto_alone_cannot_read_the_policies_of_a_role_its_cloudformation_made(
    admin: Actor,
) -> None:
    template = {
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": "made",
                    "AssumeRolePolicyDocument": LAMBDA_TRUST,
                    "Policies": [
                        {
                            "PolicyName": "p",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": [_allow(["ecs:ListClusters"], ["*"])],
                            },
                        }
                    ],
                },
            }
        }
    }
    admin.client("cloudformation").create_stack(
        StackName="roles", TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_NAMED_IAM"]
    )
    arn = f"arn:aws:iam::{ACCOUNT}:role/made"
    ecs = Actor(arn, via=admin).client("ecs")
    with enable_iam_authentication(), pytest.raises(KeyError, match="policy_document"):
        ecs.list_clusters()
    with Enforcement([arn]):  # the policies put back as JSON text
        ecs.list_clusters()


# With the harness ---------------------------------------------------------------------------


def test_the_harness_names_the_resource_its_own_stack_allowed_another_denied(
    admin: Actor,
) -> None:
    arn = _role(admin, "deployer", _allow(["cloudformation:DescribeStacks"], [_stack("mine")]))
    cfn = Actor(arn, via=admin).client("cloudformation")
    with Enforcement([arn]) as enforcement:
        cfn.describe_stacks(StackName="mine")
        with pytest.raises(ClientError) as denied:
            cfn.describe_stacks(StackName="theirs")
        # Harness requests (the admin's credentials) are not checked.
        admin.client("cloudformation").describe_stacks(StackName="theirs")
    assert _code(denied) == "AccessDenied"
    assert [(d.resource.split("/")[1], d.allowed) for d in enforcement.decisions] == [
        ("mine", True),
        ("theirs", False),
    ]


def test_moto_ignores_conditions_in_identity_policies(admin: Actor) -> None:
    never = {"StringEquals": {"aws:RequestedRegion": "xx-nowhere-1"}}
    arn = _role(admin, "lister", _allow(["ecs:ListClusters"], ["*"], **never))
    with Enforcement([arn]) as enforcement:
        Actor(arn, via=admin).client("ecs").list_clusters()  # AWS would deny it
    assert [d.allowed for d in enforcement.decisions] == [True]


def test_moto_never_asks_for_iam_pass_role_the_harness_does(admin: Actor) -> None:
    arn = _role(
        admin,
        "deployer",
        _allow(["cloudformation:CreateChangeSet", "cloudformation:DescribeStacks"], [_stack("*")]),
    )
    cfn = Actor(arn, via=admin).client("cloudformation")
    passed = f"arn:aws:iam::{ACCOUNT}:role/cfn"
    with Enforcement([arn]) as enforcement, pytest.raises(ClientError) as denied:
        cfn.create_change_set(
            StackName="mine",
            ChangeSetName="c",
            TemplateBody=STACK_BODY,
            RoleARN=passed,
            ChangeSetType="UPDATE",
        )
    assert _code(denied) == "AccessDenied"
    assert [(d.action, d.allowed, d.by.partition(":")[0]) for d in enforcement.decisions] == [
        ("cloudformation:CreateChangeSet", True, "moto"),
        ("iam:PassRole", False, "harness"),
    ]


def test_the_harness_evaluates_pass_role_conditions_it_knows(admin: Actor) -> None:
    cfn_role = f"arn:aws:iam::{ACCOUNT}:role/cfn"
    arn = _role(
        admin,
        "deployer",
        _allow(["cloudformation:CreateChangeSet"], [_stack("*")]),
        _allow(
            ["iam:PassRole"],
            [cfn_role],
            StringEquals={"iam:PassedToService": "ecs-tasks.amazonaws.com"},  # not CloudFormation
        ),
    )
    cfn = Actor(arn, via=admin).client("cloudformation")
    with Enforcement([arn]), pytest.raises(ClientError) as denied:
        cfn.create_change_set(
            StackName="mine",
            ChangeSetName="c",
            TemplateBody=STACK_BODY,
            RoleARN=cfn_role,
            ChangeSetType="UPDATE",
        )
    assert "iam:PassRole" in str(denied.value)


def test_moto_skips_another_accounts_trust_policy_the_harness_does_not(admin: Actor) -> None:
    other = Actor(f"arn:aws:iam::{OTHER}:role/harness")
    only_c = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": [f"arn:aws:iam::{ACCOUNT}:root"]},
                "Action": "sts:AssumeRole",
                "Condition": {"ArnEquals": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/c"}},
            }
        ],
    }
    target = _role(other, "target", _allow(["ecs:ListClusters"], ["*"]), trust=only_c)
    caller = _role(admin, "caller", _allow(["sts:AssumeRole"], [target]))
    sts = Actor(caller, via=admin).client("sts")
    with enable_iam_authentication():  # moto alone: the caller's policy allows it
        sts.assume_role(RoleArn=target, RoleSessionName="moto-only")
    with Enforcement([caller]) as enforcement, pytest.raises(ClientError) as denied:
        sts.assume_role(RoleArn=target, RoleSessionName="harness")
    assert _code(denied) == "AccessDenied"
    assert [(d.action, d.allowed, d.by) for d in enforcement.decisions] == [
        ("sts:AssumeRole", True, "moto's evaluator"),
        ("sts:AssumeRole", False, "harness: trust policy of the assumed role"),
    ]


def test_a_request_whose_resource_the_harness_cannot_name_stops_the_test(admin: Actor) -> None:
    arn = _role(admin, "reader", _allow(["ecs:DescribeServices"], ["*"]))
    ecs = Actor(arn, via=admin).client("ecs")
    with (
        Enforcement([arn]) as enforcement,
        pytest.raises(HarnessError, match="ecs:DescribeServices"),
    ):
        ecs.describe_services(cluster="c", services=["s"])
    assert enforcement.problems
