"""What the job tests share: output variables read as the invoker reads them, a moto account,
and a CloudFormation client whose every answer is queued (botocore's Stubber)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import botocore.session
from botocore.stub import Stubber

from pipelines.invoker.logs import parse_output
from tests.aws.stubs import stack_event

REGION = "eu-west-1"
STACK = "shop-prod-web"
STACK_ID = f"arn:aws:cloudformation:{REGION}:333333333333:stack/{STACK}/5c6d7e80"
CHANGE_SET = "pipelines-plan"
CHANGE_SET_ARN = f"arn:aws:cloudformation:{REGION}:333333333333:changeSet/{CHANGE_SET}/9f8e"
STACK_TYPE = "AWS::CloudFormation::Stack"
NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
NO_CHANGES = (
    "The submitted information didn't contain changes. Submit different information to create "
    "a change set."
)


def outputs(text: str) -> dict[str, str]:
    """The output variables the invoker would read from these log lines."""
    found = {}
    for line in text.splitlines():
        parsed = parse_output(line)
        if parsed:
            found[parsed[0]] = parsed[1]
    return found


def template(*topics: str, parameter: bool = False) -> str:
    resources = {
        f"Topic{t.capitalize()}": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": t}}
        for t in topics
    }
    body: dict = {"Resources": resources}
    if parameter:
        body["Parameters"] = {"Owner": {"Type": "String"}}
    return json.dumps(body)


@contextmanager
def stubbed_cloudformation() -> Iterator[tuple[Any, Stubber]]:
    """A CloudFormation client and its Stubber; every queued answer must have been asked for."""
    client = botocore.session.get_session().create_client(
        "cloudformation",
        region_name=REGION,
        aws_access_key_id="stub",
        aws_secret_access_key="stub",
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def no_stack(stub: Stubber) -> None:
    stub.add_client_error(
        "describe_stacks",
        "ValidationError",
        f"Stack with id {STACK} does not exist",
        expected_params={"StackName": STACK},
    )


def stack(status: str, parameters: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "Stacks": [
            {
                "StackId": STACK_ID,
                "StackName": STACK,
                "CreationTime": NOW,
                "StackStatus": status,
                "Parameters": [
                    {"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()
                ],
            }
        ]
    }


def change_set(
    status: str,
    execution: str,
    reason: str = "",
    changes: tuple[tuple[str, str, str, str], ...] = (),
    stack_name: str = STACK,
) -> dict[str, Any]:
    """A DescribeChangeSet answer; changes are (action, logical id, type, replacement)."""
    answer: dict[str, Any] = {
        "ChangeSetName": CHANGE_SET,
        "ChangeSetId": CHANGE_SET_ARN,
        "StackId": STACK_ID,
        "StackName": stack_name,
        "Status": status,
        "ExecutionStatus": execution,
        "Changes": [
            {
                "Type": "Resource",
                "ResourceChange": {
                    "Action": action,
                    "LogicalResourceId": logical,
                    "ResourceType": kind,
                    **({"Replacement": replacement} if replacement else {}),
                },
            }
            for action, logical, kind, replacement in changes
        ],
    }
    if reason:
        answer["StatusReason"] = reason
    return answer


def event(n: int, logical: str, kind: str, status: str, reason: str = "") -> dict[str, Any]:
    return stack_event(n, logical, kind, status, reason, stack=STACK, stack_id=STACK_ID, at=NOW)
