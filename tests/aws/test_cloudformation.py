"""Change sets and stack events with botocore's Stubber, in the shapes CloudFormation returns:
a failed creation is reported by the resource that failed, not by the ones it cancelled."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from pipelines.aws.cloudformation import ChangeSet, create_change_set, execute
from pipelines.aws.deploy import bucket_created
from pipelines.aws.errors import OperationError
from tests.aws.stubs import NOW, StubbedClients

HOME = ("111111111111", "eu-west-1")
STACK = "shop-pipeline"
STACK_ID = f"arn:aws:cloudformation:eu-west-1:111111111111:stack/{STACK}/5c6d7e80"
CHANGE_SET = "arn:aws:cloudformation:eu-west-1:111111111111:changeSet/pipelines-deploy/9f8e"
BUCKET = "shop-artifacts-111111111111-eu-west-1"


def event(n: int, logical: str, kind: str, status: str, reason: str = "", physical: str = ""):
    result: dict[str, Any] = {
        "StackId": STACK_ID,
        "EventId": f"{logical}-{status}-{n}",
        "StackName": STACK,
        "LogicalResourceId": logical,
        "PhysicalResourceId": physical,
        "ResourceType": kind,
        "Timestamp": NOW + timedelta(seconds=n),
        "ResourceStatus": status,
    }
    if reason:
        result["ResourceStatusReason"] = reason
    return result


STACK_TYPE = "AWS::CloudFormation::Stack"
BEFORE = event(0, STACK, STACK_TYPE, "REVIEW_IN_PROGRESS", "User Initiated", STACK_ID)
# Chronological; CloudFormation returns them newest first.
FIRST = [
    event(1, STACK, STACK_TYPE, "CREATE_IN_PROGRESS", "User Initiated", STACK_ID),
    event(2, "ArtifactKey", "AWS::KMS::Key", "CREATE_IN_PROGRESS"),
    event(3, "ArtifactBucket", "AWS::S3::Bucket", "CREATE_IN_PROGRESS"),
]
SECOND = [
    event(4, "ArtifactBucket", "AWS::S3::Bucket", "CREATE_COMPLETE", physical=BUCKET),
    event(
        5,
        "ApprovalTopic",
        "AWS::SNS::Topic",
        "CREATE_FAILED",
        'Resource handler returned message: "Invalid parameter: KmsMasterKeyId" '
        "(RequestToken: 0f1e, HandlerErrorCode: InvalidRequest)",
    ),
    event(6, "ArtifactKey", "AWS::KMS::Key", "CREATE_FAILED", "Resource creation cancelled"),
    event(
        7,
        STACK,
        STACK_TYPE,
        "ROLLBACK_IN_PROGRESS",
        "The following resource(s) failed to create: [ApprovalTopic, ArtifactKey]. Rollback "
        "requested by user.",
        STACK_ID,
    ),
    event(8, "ArtifactBucket", "AWS::S3::Bucket", "DELETE_COMPLETE", physical=BUCKET),
    event(9, STACK, STACK_TYPE, "ROLLBACK_COMPLETE", physical=STACK_ID),
]


def _stack(status: str) -> dict[str, Any]:
    return {
        "Stacks": [
            {
                "StackId": STACK_ID,
                "StackName": STACK,
                "CreationTime": NOW,
                "StackStatus": status,
            }
        ]
    }


def test_a_failed_creation_is_reported_by_its_first_failed_resource() -> None:
    clients = StubbedClients()
    cfn = clients.stub("cloudformation", *HOME)
    by_stack = {"StackName": STACK_ID}
    cfn.add_response("describe_stack_events", {"StackEvents": [BEFORE]}, by_stack)
    cfn.add_response("execute_change_set", {}, {"ChangeSetName": CHANGE_SET})
    cfn.add_response("describe_stack_events", {"StackEvents": [*reversed(FIRST), BEFORE]}, by_stack)
    # The second read spans two pages before it reaches an event seen before.
    newest = list(reversed(SECOND))
    cfn.add_response(
        "describe_stack_events", {"StackEvents": newest[:4], "NextToken": "page-2"}, by_stack
    )
    cfn.add_response(
        "describe_stack_events",
        {"StackEvents": [*newest[4:], *reversed(FIRST)]},
        {"StackName": STACK_ID, "NextToken": "page-2"},
    )
    cfn.add_response("describe_stacks", _stack("ROLLBACK_COMPLETE"), by_stack)

    seen: list[dict[str, Any]] = []
    change_set = ChangeSet(STACK, STACK_ID, CHANGE_SET, "CREATE", ())
    outcome = execute(
        clients.client("cloudformation", *HOME), change_set, lambda s, e: seen.append(e)
    )
    clients.verify()

    assert [e["EventId"] for e in seen] == [e["EventId"] for e in FIRST + SECOND]
    assert not outcome.ok and outcome.status == "ROLLBACK_COMPLETE"
    [failure] = outcome.failures
    assert (failure.logical_id, failure.resource_type) == ("ApprovalTopic", "AWS::SNS::Topic")
    assert "Invalid parameter: KmsMasterKeyId" in failure.reason
    # The bucket's CREATE_COMPLETE is the moment deploy uploads templates.zip.
    assert [e["EventId"] for e in seen if bucket_created(e, BUCKET)] == [SECOND[0]["EventId"]]


def _change_set_request(cfn: Any, status: str, reason: str) -> None:
    cfn.add_response("create_change_set", {"Id": CHANGE_SET, "StackId": STACK_ID}, None)
    cfn.add_response(
        "describe_change_set",
        {
            "ChangeSetName": "pipelines-deploy",
            "ChangeSetId": CHANGE_SET,
            "StackId": STACK_ID,
            "StackName": STACK,
            "Status": status,
            "StatusReason": reason,
            "ExecutionStatus": "UNAVAILABLE",
            "Changes": [],
        },
        {"ChangeSetName": CHANGE_SET},
    )
    cfn.add_response("delete_change_set", {}, {"ChangeSetName": CHANGE_SET})


def _create(clients: StubbedClients) -> ChangeSet | None:
    return create_change_set(
        clients.client("cloudformation", *HOME),
        STACK,
        "UPDATE",
        "pipelines-deploy",
        template={"TemplateBody": "{}"},
        parameters=[],
        capabilities=("CAPABILITY_NAMED_IAM",),
        tags={"pipelines:app": "shop"},
        description="test",
    )


def test_an_empty_change_set_is_no_changes_and_is_deleted() -> None:
    clients = StubbedClients()
    _change_set_request(
        clients.stub("cloudformation", *HOME),
        "FAILED",
        "The submitted information didn't contain changes. Submit different information to "
        "create a change set.",
    )
    assert _create(clients) is None
    clients.verify()


def test_a_change_set_that_fails_says_why() -> None:
    clients = StubbedClients()
    _change_set_request(
        clients.stub("cloudformation", *HOME),
        "FAILED",
        "No export named shop-dev-LogKeyArn found",
    )
    with pytest.raises(OperationError, match="could not plan the change: No export named"):
        _create(clients)
    clients.verify()
