"""Change sets and stack events with botocore's Stubber, in the shapes CloudFormation returns:
a failed creation is reported by the resource that failed, not by the ones it cancelled."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from pipelines.aws.cloudformation import (
    ChangeSet,
    Live,
    TimedOut,
    _span,
    create_change_set,
    delete_failed_creation,
    execute,
    remove_change_set,
)
from pipelines.aws.deploy import bucket_created
from pipelines.aws.errors import OperationError
from tests.aws.stubs import NOW, StubbedClients, stack_event

HOME = ("111111111111", "eu-west-1")
STACK = "shop-pipeline"
STACK_ID = f"arn:aws:cloudformation:eu-west-1:111111111111:stack/{STACK}/5c6d7e80"
CHANGE_SET = "arn:aws:cloudformation:eu-west-1:111111111111:changeSet/pipelines-deploy/9f8e"
BUCKET = "shop-artifacts-111111111111-eu-west-1"


def event(
    n: int, logical: str, kind: str, status: str, reason: str = "", physical: str = ""
) -> dict[str, Any]:
    return stack_event(
        n, logical, kind, status, reason, stack=STACK, stack_id=STACK_ID, at=NOW, physical=physical
    )


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


def _described(status: str, token: str | None = None, changes: tuple[str, ...] = ()) -> dict:
    answer: dict[str, Any] = {
        "ChangeSetName": "pipelines-deploy",
        "ChangeSetId": CHANGE_SET,
        "StackId": STACK_ID,
        "StackName": STACK,
        "Status": status,
        "ExecutionStatus": "AVAILABLE" if status == "CREATE_COMPLETE" else "UNAVAILABLE",
        "Changes": [
            {
                "Type": "Resource",
                "ResourceChange": {
                    "Action": "Modify",
                    "LogicalResourceId": logical,
                    "ResourceType": "AWS::SNS::Topic",
                    "Replacement": "False",
                },
            }
            for logical in changes
        ],
    }
    if token:
        answer["NextToken"] = token
    return answer


def test_a_change_set_is_read_until_planned_with_every_page_of_its_changes() -> None:
    clients = StubbedClients()
    cfn = clients.stub("cloudformation", *HOME)
    by_arn = {"ChangeSetName": CHANGE_SET}
    cfn.add_response("create_change_set", {"Id": CHANGE_SET, "StackId": STACK_ID}, None)
    cfn.add_response("describe_change_set", _described("CREATE_PENDING"), by_arn)
    cfn.add_response("describe_change_set", _described("CREATE_IN_PROGRESS"), by_arn)
    cfn.add_response("describe_change_set", _described("CREATE_COMPLETE", "p2", ("A",)), by_arn)
    cfn.add_response(
        "describe_change_set",
        _described("CREATE_COMPLETE", None, ("B",)),
        {**by_arn, "NextToken": "p2"},
    )
    change_set = _create(clients)
    clients.verify()
    assert change_set is not None
    assert [c.logical_id for c in change_set.changes] == ["A", "B"]
    assert (change_set.arn, change_set.stack_id, change_set.kind) == (
        CHANGE_SET,
        STACK_ID,
        "UPDATE",
    )


def test_a_change_set_still_planning_at_the_bound_times_out_naming_stack_and_change_set() -> None:
    clients = StubbedClients()
    cfn = clients.stub("cloudformation", *HOME)
    cfn.add_response("create_change_set", {"Id": CHANGE_SET, "StackId": STACK_ID}, None)
    cfn.add_response(
        "describe_change_set", _described("CREATE_IN_PROGRESS"), {"ChangeSetName": CHANGE_SET}
    )
    with pytest.raises(TimedOut) as caught:
        create_change_set(
            clients.client("cloudformation", *HOME),
            STACK,
            "UPDATE",
            "pipelines-deploy",
            template={"TemplateBody": "{}"},
            parameters=[],
            capabilities=(),
            tags={},
            description="test",
            timeout=0,
        )
    clients.verify()
    assert isinstance(caught.value, OperationError)
    assert str(caught.value).startswith(
        f"{STACK}: change set pipelines-deploy is still CREATE_IN_PROGRESS after 0 seconds: "
        "CloudFormation has not finished planning it"
    )


def test_moto_refusing_an_empty_change_set_is_no_changes_and_other_refusals_are_errors() -> None:
    clients = StubbedClients()
    cfn = clients.stub("cloudformation", *HOME)
    cfn.add_client_error("create_change_set", "ValidationError", "No updates are to be performed.")
    assert _create(clients) is None
    cfn.add_client_error(
        "create_change_set", "InsufficientCapabilitiesException", "Requires capabilities"
    )
    with pytest.raises(ClientError):
        _create(clients)
    clients.verify()


def test_a_deleted_change_set_that_stays_is_a_timeout() -> None:
    clients = StubbedClients()
    cfn = clients.stub("cloudformation", *HOME)
    by_name = {"StackName": STACK, "ChangeSetName": "pipelines-plan"}
    cfn.add_response("describe_change_set", _described("CREATE_COMPLETE"), by_name)
    cfn.add_response("delete_change_set", {}, by_name)
    cfn.add_response("describe_change_set", _described("DELETE_IN_PROGRESS"), by_name)
    with pytest.raises(TimedOut, match="change set pipelines-plan is still there 0 seconds after"):
        remove_change_set(
            clients.client("cloudformation", *HOME), STACK, "pipelines-plan", timeout=0
        )
    cfn.add_client_error(
        "describe_change_set", "ChangeSetNotFound", "not there", expected_params=by_name
    )
    remove_change_set(clients.client("cloudformation", *HOME), STACK, "pipelines-plan")
    clients.verify()


def test_deleting_a_failed_creation_is_bounded_and_says_when_it_fails() -> None:
    clients = StubbedClients()
    cfn = clients.stub("cloudformation", *HOME)
    live = Live(STACK, STACK_ID, "ROLLBACK_COMPLETE", {}, {}, NOW)
    for status in ("DELETE_IN_PROGRESS", "DELETE_FAILED"):
        cfn.add_response("delete_stack", {}, {"StackName": STACK_ID})
        cfn.add_response("describe_stacks", _stack(status), {"StackName": STACK_ID})
    client = clients.client("cloudformation", *HOME)
    with pytest.raises(TimedOut, match="still DELETE_IN_PROGRESS 0 seconds after it was deleted"):
        delete_failed_creation(client, live, timeout=0)
    with pytest.raises(
        OperationError,
        match=r"could not delete the stack left by a failed creation \(DELETE_FAILED\)",
    ):
        delete_failed_creation(client, live)
    clients.verify()


def test_a_stack_still_changing_at_the_bound_is_a_failed_outcome_that_says_so() -> None:
    clients = StubbedClients()
    cfn = clients.stub("cloudformation", *HOME)
    by_stack = {"StackName": STACK_ID}
    cfn.add_response("describe_stack_events", {"StackEvents": [BEFORE]}, by_stack)
    cfn.add_response("execute_change_set", {}, {"ChangeSetName": CHANGE_SET})
    cfn.add_response("describe_stack_events", {"StackEvents": [FIRST[0], BEFORE]}, by_stack)
    cfn.add_response("describe_stacks", _stack("CREATE_IN_PROGRESS"), by_stack)
    change_set = ChangeSet(STACK, STACK_ID, CHANGE_SET, "CREATE", ())
    outcome = execute(
        clients.client("cloudformation", *HOME), change_set, lambda s, e: None, timeout=0
    )
    clients.verify()
    assert (outcome.ok, outcome.status) == (False, "CREATE_IN_PROGRESS")
    [failure] = outcome.failures
    assert failure.reason.startswith(
        f"still CREATE_IN_PROGRESS after 0 seconds (change set {CHANGE_SET}): CloudFormation "
        "carries on"
    )


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(4 * 3600, "4 hours"), (3600, "1 hour"), (30 * 60, "30 minutes"), (90, "90 seconds")],
)
def test_bounds_are_said_as_a_person_says_them(seconds: float, said: str) -> None:
    assert _span(seconds) == said
