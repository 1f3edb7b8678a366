"""What the enforcement (enforcement.py) decides, on roles of a few statements: the resource of a
call, the conditions it knows, the permissions a call implies, trust policies, and a call whose
resource it cannot name. moto serves the calls allowed; its own IAM authorization stays off.

What moto checks by itself when its authorization is on, and why it is not used:
docs/testing-iam.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from tests.iam_enforced.enforcement import Enforcement, HarnessError, TemplateRoles, enforce

ACCOUNT, OTHER = "222222222222", "333333333333"
REGION = "eu-west-1"
STACK_BODY = json.dumps(
    {"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "t"}}}}
)


def _arn(name: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


def _stack(name: str) -> str:
    return f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{name}/*"


def _allow(actions: list[str], resources: list[str], **condition: Any) -> dict[str, Any]:
    statement = {"Effect": "Allow", "Action": actions, "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return statement


def _role(name: str, *statements: dict[str, Any], trust: Any = None) -> dict[str, Any]:
    trust = trust or {
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "x.amazonaws.com"}, "Action": "sts:*"}
        ]
    }
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "RoleName": name,
            "AssumeRolePolicyDocument": trust,
            "Policies": [{"PolicyName": "p", "PolicyDocument": {"Statement": list(statements)}}],
        },
    }


def _roles(**stacks: tuple[str, dict[str, Any]]) -> TemplateRoles:
    """Stack name -> (account, {logical id: role}), not deployed (the policies hold no Ref);
    the harness's clients read moto."""

    class Harness:
        def client(self, service: str, account: str, region: str) -> Any:
            return _as(_arn("harness", account)).client(service, region_name=region)

    bodies = {name: {"Resources": resources} for name, (_, resources) in stacks.items()}
    places = {name: (account, REGION) for name, (account, _) in stacks.items()}
    return TemplateRoles(bodies, places, ACCOUNT, Harness(), deployed=False)


def _as(role_arn: str) -> boto3.Session:
    """A session with credentials of `role_arn` (moto, its IAM authorization off)."""
    account = role_arn.split(":")[4]
    sts = boto3.client("sts", region_name=REGION)
    harness = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/harness", RoleSessionName="harness"
    )
    credentials = harness["Credentials"]
    if not role_arn.endswith("/harness"):
        sts = boto3.client(
            "sts",
            region_name=REGION,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
        credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="test")["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=REGION,
    )


def _client(role_arn: str, service: str) -> Any:
    return enforce(_as(role_arn).client(service), role_arn)


@pytest.fixture
def stacks(fake_aws_credentials: None) -> Iterator[None]:
    with mock_aws():
        cfn = _as(_arn("harness")).client("cloudformation")
        cfn.create_stack(StackName="mine", TemplateBody=STACK_BODY)
        cfn.create_stack(StackName="theirs", TemplateBody=STACK_BODY)
        yield


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return error.value.response["Error"]["Code"]


def test_a_call_is_decided_on_its_resource_its_own_stack_allowed_another_denied(
    stacks: None,
) -> None:
    roles = _roles(
        s=(
            ACCOUNT,
            {"R": _role("deployer", _allow(["cloudformation:DescribeStacks"], [_stack("mine")]))},
        )
    )
    cfn = _client(_arn("deployer"), "cloudformation")
    with Enforcement(roles) as enforcement:
        cfn.describe_stacks(StackName="mine")
        with pytest.raises(ClientError) as denied:
            cfn.describe_stacks(StackName="theirs")
        # The harness's own clients are not checked.
        _as(_arn("harness")).client("cloudformation").describe_stacks(StackName="theirs")
    assert _code(denied) == "AccessDenied"
    # The resource is the stack's ARN with its id, read with the harness's clients.
    assert [(d.resource.split("/")[1], d.allowed) for d in enforcement.decisions] == [
        ("mine", True),
        ("theirs", False),
    ]
    assert all(len(d.resource.split("/")[2]) > 1 for d in enforcement.decisions)
    # Without an Enforcement entered, nothing is checked.
    cfn.describe_stacks(StackName="theirs")


def test_conditions_on_keys_the_harness_knows_are_evaluated_others_are_recorded(
    stacks: None,
) -> None:
    cluster = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/jobs"
    roles = _roles(
        s=(
            ACCOUNT,
            {
                "R": _role(
                    "lister",
                    _allow(["ecs:ListTasks"], ["*"], ArnEquals={"ecs:cluster": cluster}),
                    _allow(["ecs:ListClusters"], ["*"], Bool={"aws:SecureTransport": "true"}),
                )
            },
        )
    )
    _as(_arn("harness")).client("ecs").create_cluster(clusterName="jobs")
    _as(_arn("harness")).client("ecs").create_cluster(clusterName="other")
    ecs = _client(_arn("lister"), "ecs")
    with Enforcement(roles) as enforcement:
        ecs.list_tasks(cluster="jobs")
        with pytest.raises(ClientError):
            ecs.list_tasks(cluster="other")
        ecs.list_clusters()
    assert [d.allowed for d in enforcement.decisions] == [True, False, True]
    assert enforcement.decisions[-1].unevaluated == ("aws:SecureTransport",)


def test_a_call_that_passes_a_role_needs_iam_pass_role_for_that_service(stacks: None) -> None:
    cfn_role = _arn("cfn")
    change_sets = _allow(["cloudformation:CreateChangeSet"], [_stack("*")])
    roles = _roles(
        s=(
            ACCOUNT,
            {
                "None": _role("without", change_sets),
                "Other": _role(
                    "elsewhere",
                    change_sets,
                    _allow(
                        ["iam:PassRole"],
                        [cfn_role],
                        StringEquals={"iam:PassedToService": "ecs-tasks.amazonaws.com"},
                    ),
                ),
                "Right": _role(
                    "right",
                    change_sets,
                    _allow(
                        ["iam:PassRole"],
                        [cfn_role],
                        StringEquals={"iam:PassedToService": "cloudformation.amazonaws.com"},
                    ),
                ),
            },
        )
    )
    request = {
        "StackName": "mine",
        "ChangeSetName": "c",
        "TemplateBody": STACK_BODY,
        "RoleARN": cfn_role,
        "ChangeSetType": "UPDATE",
    }
    with Enforcement(roles) as enforcement:
        for denied in ("without", "elsewhere"):
            with pytest.raises(ClientError, match="iam:PassRole"):
                _client(_arn(denied), "cloudformation").create_change_set(**request)
        _client(_arn("right"), "cloudformation").create_change_set(**request)
    assert [(d.role.rpartition("/")[2], d.action, d.allowed) for d in enforcement.decisions] == [
        ("without", "cloudformation:CreateChangeSet", True),
        ("without", "iam:PassRole", False),
        ("elsewhere", "cloudformation:CreateChangeSet", True),
        ("elsewhere", "iam:PassRole", False),
        ("right", "cloudformation:CreateChangeSet", True),
        ("right", "iam:PassRole", True),
    ]


def test_assume_role_needs_the_callers_permission_and_the_targets_trust(stacks: None) -> None:
    target = _arn("target", OTHER)
    only_c = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": [f"arn:aws:iam::{ACCOUNT}:root"]},
                "Action": "sts:AssumeRole",
                "Condition": {"ArnEquals": {"aws:PrincipalArn": _arn("c")}},
            }
        ]
    }
    assume = _allow(["sts:AssumeRole"], [target])
    roles = _roles(
        here=(ACCOUNT, {"C": _role("c", assume), "D": _role("d", assume)}),
        there=(OTHER, {"T": _role("target", trust=only_c)}),
    )
    with Enforcement(roles) as enforcement:
        _client(_arn("c"), "sts").assume_role(RoleArn=target, RoleSessionName="session")
        with pytest.raises(ClientError) as denied:
            _client(_arn("d"), "sts").assume_role(RoleArn=target, RoleSessionName="session")
    assert _code(denied) == "AccessDenied"
    assert [(d.role[-1], d.by, d.allowed) for d in enforcement.decisions] == [
        ("c", "identity policy", True),
        ("c", "trust policy of the assumed role", True),
        ("d", "identity policy", True),
        ("d", "trust policy of the assumed role", False),
    ]


def test_a_withheld_permission_is_denied(stacks: None) -> None:
    roles = _roles(s=(ACCOUNT, {"R": _role("r", _allow(["ecs:ListClusters"], ["*"]))}))
    ecs = _client(_arn("r"), "ecs")
    with Enforcement(roles) as enforcement:
        with enforcement.without(_arn("r"), "ecs:ListClusters"), pytest.raises(ClientError):
            ecs.list_clusters()
        ecs.list_clusters()
    assert [d.allowed for d in enforcement.decisions] == [False, True]


def test_a_call_whose_resource_the_harness_cannot_name_stops_the_test(stacks: None) -> None:
    roles = _roles(s=(ACCOUNT, {"R": _role("reader", _allow(["ecs:DescribeServices"], ["*"]))}))
    ecs = _client(_arn("reader"), "ecs")
    with (
        Enforcement(roles) as enforcement,
        pytest.raises(HarnessError, match="ecs:DescribeServices"),
    ):
        ecs.describe_services(cluster="c", services=["s"])
    assert enforcement.problems
