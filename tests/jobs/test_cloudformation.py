"""`cloudformation plan|apply`: against moto's CloudFormation for the whole round trip, and
with botocore's Stubber for what moto does not do (a change set that fails or never finishes,
a stack that fails and rolls back, an execution CloudFormation refuses)."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from pipelines.aws.cloudformation import ChangeSetFailed, TimedOut
from pipelines.jobs.cloudformation import cloudformation_apply, cloudformation_plan
from pipelines.jobs.errors import JobError
from tests.jobs.support import (
    CHANGE_SET,
    CHANGE_SET_ARN,
    NO_CHANGES,
    STACK,
    STACK_ID,
    STACK_TYPE,
    change_set,
    event,
    no_stack,
    outputs,
    stack,
    stubbed_cloudformation,
    template,
)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        yield


# The round trip, on moto ---------------------------------------------------------------------


def test_plan_creates_a_change_set_and_prints_it(aws, capsys) -> None:
    cfn = boto3.client("cloudformation")
    code = cloudformation_plan(cfn, stack="shop-dev-web", template=template("a"), delay=0)
    out = capsys.readouterr().out
    assert code == 0
    assert "Change set pipelines-plan for stack shop-dev-web (CREATE):" in out
    assert "Add      TopicA" in out
    found = outputs(out)
    assert found["summary"] == "shop-dev-web: 1 to add, 0 to modify (0 replaced), 0 to remove"
    assert found["changeSetId"].startswith("arn:aws:cloudformation:eu-west-1:")
    described = cfn.describe_change_set(StackName="shop-dev-web", ChangeSetName="pipelines-plan")
    assert described["ExecutionStatus"] == "AVAILABLE"  # planned, not executed
    assert cfn.describe_stacks(StackName="shop-dev-web")["Stacks"][0]["StackStatus"] == (
        "REVIEW_IN_PROGRESS"
    )


def test_apply_executes_exactly_the_planned_change_set(aws, capsys) -> None:
    cfn = boto3.client("cloudformation")
    cloudformation_plan(cfn, stack="shop-dev-web", template=template("a"), delay=0)
    change_set_id = outputs(capsys.readouterr().out)["changeSetId"]
    code = cloudformation_apply(cfn, stack="shop-dev-web", change_set=change_set_id, delay=0)
    out = capsys.readouterr().out
    assert code == 0
    assert cfn.describe_stacks(StackName="shop-dev-web")["Stacks"][0]["StackStatus"] == (
        "CREATE_COMPLETE"
    )
    assert "CREATE_COMPLETE" in out
    assert outputs(out)["stackStatus"] == "CREATE_COMPLETE"
    assert [
        t["TopicArn"].rsplit(":", 1)[1] for t in boto3.client("sns").list_topics()["Topics"]
    ] == ["a"]


def test_a_second_plan_replaces_the_first_and_shows_the_update(aws, capsys) -> None:
    cfn = boto3.client("cloudformation")
    cloudformation_plan(cfn, stack="shop-dev-web", template=template("a"), delay=0)
    cloudformation_apply(cfn, stack="shop-dev-web", change_set="pipelines-plan", delay=0)
    cloudformation_plan(cfn, stack="shop-dev-web", template=template("b"), delay=0)
    cloudformation_plan(cfn, stack="shop-dev-web", template=template("a", "b"), delay=0)
    out = capsys.readouterr().out
    names_ = [
        s["ChangeSetName"]
        for s in cfn.list_change_sets(StackName="shop-dev-web")["Summaries"]
        if s["ExecutionStatus"] == "AVAILABLE"
    ]
    assert names_ == ["pipelines-plan"]
    assert "(UPDATE)" in out
    assert outputs(out)["summary"].startswith("shop-dev-web: 1 to add")


def test_an_unchanged_template_plans_and_applies_nothing(aws, capsys) -> None:
    cfn = boto3.client("cloudformation")
    cloudformation_plan(cfn, stack="shop-dev-web", template=template("a"), delay=0)
    cloudformation_apply(cfn, stack="shop-dev-web", change_set="pipelines-plan", delay=0)
    capsys.readouterr()
    assert cloudformation_plan(cfn, stack="shop-dev-web", template=template("a"), delay=0) == 0
    assert "No changes." in capsys.readouterr().out
    assert (
        cloudformation_apply(cfn, stack="shop-dev-web", change_set="pipelines-plan", delay=0) == 0
    )
    out = capsys.readouterr().out
    assert "nothing to apply" in out
    assert outputs(out)["summary"] == "shop-dev-web: no changes"


def test_parameters_not_given_keep_their_previous_value(aws) -> None:
    cfn = boto3.client("cloudformation")
    body = template("a", parameter=True)
    cloudformation_plan(
        cfn, stack="shop-dev-web", template=body, parameters=["Owner=team-a"], delay=0
    )
    cloudformation_apply(cfn, stack="shop-dev-web", change_set="pipelines-plan", delay=0)
    cloudformation_plan(
        cfn, stack="shop-dev-web", template=template("a", "b", parameter=True), delay=0
    )
    live = cfn.describe_stacks(StackName="shop-dev-web")["Stacks"][0]
    assert live["Parameters"] == [{"ParameterKey": "Owner", "ParameterValue": "team-a"}]
    with pytest.raises(JobError, match="KEY=VALUE"):
        cloudformation_plan(cfn, stack="shop-dev-web", template=body, parameters=["Owner"], delay=0)


def test_apply_refuses_a_change_set_id_of_another_stack(aws, capsys) -> None:
    cfn = boto3.client("cloudformation")
    # moto finds change sets by name across stacks, so this one gets a name of its own.
    cloudformation_plan(
        cfn, stack="shop-dev-other", template=template("x"), change_set="other", delay=0
    )
    other_id = outputs(capsys.readouterr().out)["changeSetId"]
    cloudformation_plan(cfn, stack="shop-dev-web", template=template("a"), delay=0)
    with pytest.raises(JobError, match="belongs to shop-dev-other"):
        cloudformation_apply(cfn, stack="shop-dev-web", change_set=other_id, delay=0)
    assert cfn.describe_stacks(StackName="shop-dev-other")["Stacks"][0]["StackStatus"] == (
        "REVIEW_IN_PROGRESS"
    )


def test_a_template_over_the_inline_limit_is_refused_before_any_call() -> None:
    with pytest.raises(JobError, match="CloudFormation takes at most 51200 inline"):
        cloudformation_plan(None, stack=STACK, template="x" * 51_201)


# Change sets CloudFormation plans, stubbed ---------------------------------------------------


def _planned(stub, *answers: dict) -> None:
    """A plan of a new stack up to the change set's creation, then these DescribeChangeSets."""
    no_stack(stub)
    stub.add_client_error(
        "describe_change_set",
        "ChangeSetNotFound",
        f"ChangeSet [{CHANGE_SET}] does not exist",
        http_status_code=404,
        expected_params={"StackName": STACK, "ChangeSetName": CHANGE_SET},
    )
    stub.add_response(
        "create_change_set",
        {"Id": CHANGE_SET_ARN, "StackId": STACK_ID},
        {
            "StackName": STACK,
            "ChangeSetName": CHANGE_SET,
            "ChangeSetType": "CREATE",
            "TemplateBody": "{}",
            "Parameters": [],
            "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
            "Description": "pipelines runner plan",
        },
    )
    for answer in answers:
        stub.add_response("describe_change_set", answer, {"ChangeSetName": CHANGE_SET_ARN})


def test_a_plan_waits_for_the_change_set_and_summarises_its_changes(capsys) -> None:
    changes = (
        ("Modify", "TaskDefinition", "AWS::ECS::TaskDefinition", "True"),
        ("Modify", "Service", "AWS::ECS::Service", "False"),
        ("Add", "Alarm", "AWS::CloudWatch::Alarm", ""),
    )
    with stubbed_cloudformation() as (cfn, stub):
        _planned(
            stub,
            change_set("CREATE_PENDING", "UNAVAILABLE"),
            change_set("CREATE_IN_PROGRESS", "UNAVAILABLE"),
            change_set("CREATE_COMPLETE", "AVAILABLE", changes=changes),
        )
        assert cloudformation_plan(cfn, stack=STACK, template="{}", delay=0) == 0
    out = capsys.readouterr().out
    assert "Modify   TaskDefinition  AWS::ECS::TaskDefinition  True" in out
    assert "Add      Alarm           AWS::CloudWatch::Alarm    -" in out
    assert outputs(out) == {
        "changeSet": CHANGE_SET,
        "changeSetId": CHANGE_SET_ARN,
        "summary": f"{STACK}: 1 to add, 2 to modify (1 replaced), 0 to remove",
    }


def test_an_empty_change_set_is_no_changes_not_an_error_and_is_kept_for_apply(capsys) -> None:
    with stubbed_cloudformation() as (cfn, stub):
        _planned(stub, change_set("FAILED", "UNAVAILABLE", NO_CHANGES))
        # Nothing deletes it: apply finds it and says there is nothing to apply.
        assert cloudformation_plan(cfn, stack=STACK, template="{}", delay=0) == 0
    out = capsys.readouterr().out
    assert "No changes." in out
    assert outputs(out)["summary"] == f"{STACK}: no changes"
    assert outputs(out)["changeSetId"] == CHANGE_SET_ARN

    with stubbed_cloudformation() as (cfn, stub):
        stub.add_response(
            "describe_change_set",
            change_set("FAILED", "UNAVAILABLE", NO_CHANGES),
            {"ChangeSetName": CHANGE_SET_ARN},
        )
        assert cloudformation_apply(cfn, stack=STACK, change_set=CHANGE_SET_ARN, delay=0) == 0
    assert "holds no changes; nothing to apply" in capsys.readouterr().out


def test_a_change_set_that_fails_for_another_reason_is_an_error_that_says_why() -> None:
    reason = "No export named shop-prod-LogKeyArn found. Rollback requested by user."
    with stubbed_cloudformation() as (cfn, stub):
        _planned(stub, change_set("FAILED", "UNAVAILABLE", reason))
        with pytest.raises(ChangeSetFailed) as caught:
            cloudformation_plan(cfn, stack=STACK, template="{}", delay=0)
    message = str(caught.value)
    assert message.startswith(f"{STACK}: CloudFormation could not plan the change: No export")
    assert f"(change set {CHANGE_SET})" in message
    assert caught.value.reason == reason


def test_a_change_set_still_planning_at_the_bound_is_a_timeout_naming_stack_and_change_set() -> (
    None
):
    with stubbed_cloudformation() as (cfn, stub):
        _planned(stub, change_set("CREATE_IN_PROGRESS", "UNAVAILABLE"))
        with pytest.raises(TimedOut) as caught:
            cloudformation_plan(cfn, stack=STACK, template="{}", delay=0, timeout=0)
    message = str(caught.value)
    assert message.startswith(
        f"{STACK}: change set {CHANGE_SET} is still CREATE_IN_PROGRESS after 0 seconds"
    )
    assert f"--stack-name {STACK} --change-set-name {CHANGE_SET_ARN}" in message


def test_the_job_prints_a_failed_plan_as_one_line_and_exits_1(monkeypatch, capsys, tmp_path):
    from pipelines.jobs import main as jobs

    reason = "Template format error: Unresolved resource dependencies [Key] in the Resources block"
    path = tmp_path / "t.json"
    path.write_text("{}")
    with stubbed_cloudformation() as (cfn, stub):
        _planned(stub, change_set("FAILED", "UNAVAILABLE", reason))
        monkeypatch.setattr(jobs, "_client", lambda service: cfn)
        monkeypatch.setattr(jobs, "POLL_SECONDS", 0)
        argv = ["cloudformation", "plan", "--stack", STACK, "--template", str(path)]
        assert jobs.main(argv) == 1
    err = capsys.readouterr().err
    assert err == f"error: {STACK}: CloudFormation could not plan the change: {reason} " + (
        f"(change set {CHANGE_SET})\n"
    )


# Executions, stubbed -------------------------------------------------------------------------

BEFORE = event(0, STACK, STACK_TYPE, "UPDATE_COMPLETE")


def _ready(stub, status: str = "CREATE_COMPLETE", execution: str = "AVAILABLE") -> None:
    changes = (("Modify", "TaskDefinition", "AWS::ECS::TaskDefinition", "True"),)
    stub.add_response(
        "describe_change_set",
        change_set(status, execution, changes=changes),
        {"ChangeSetName": CHANGE_SET_ARN},
    )


def _executing(stub) -> None:
    _ready(stub)
    stub.add_response("describe_stack_events", {"StackEvents": [BEFORE]}, {"StackName": STACK_ID})
    stub.add_response("execute_change_set", {}, {"ChangeSetName": CHANGE_SET_ARN})


def test_a_failed_execution_names_the_reason_from_the_stack_events(capsys) -> None:
    failure = (
        'Resource handler returned message: "Invalid request provided: The container web does '
        'not exist in the task definition." (HandlerErrorCode: InvalidRequest)'
    )
    chronological = [
        event(1, STACK, STACK_TYPE, "UPDATE_IN_PROGRESS", "User Initiated"),
        event(2, "TaskDefinition", "AWS::ECS::TaskDefinition", "UPDATE_FAILED", failure),
        event(
            3,
            STACK,
            STACK_TYPE,
            "UPDATE_ROLLBACK_IN_PROGRESS",
            "The following resource(s) failed to update: [TaskDefinition].",
        ),
        event(4, STACK, STACK_TYPE, "UPDATE_ROLLBACK_COMPLETE"),
    ]
    with stubbed_cloudformation() as (cfn, stub):
        _executing(stub)
        stub.add_response(
            "describe_stack_events",
            {"StackEvents": [*reversed(chronological), BEFORE]},
            {"StackName": STACK_ID},
        )
        stub.add_response(
            "describe_stacks", stack("UPDATE_ROLLBACK_COMPLETE"), {"StackName": STACK_ID}
        )
        with pytest.raises(JobError) as caught:
            cloudformation_apply(cfn, stack=STACK, change_set=CHANGE_SET_ARN, delay=0)
    assert str(caught.value) == (
        f"stack {STACK} ended UPDATE_ROLLBACK_COMPLETE: TaskDefinition "
        f"(AWS::ECS::TaskDefinition) UPDATE_FAILED: {failure}"
    )
    out = capsys.readouterr().out
    assert f"  UPDATE_FAILED                TaskDefinition {failure}" in out
    assert outputs(out) == {"stackStatus": "UPDATE_ROLLBACK_COMPLETE"}


def test_an_execution_cloudformation_refuses_says_so() -> None:
    with stubbed_cloudformation() as (cfn, stub):
        _ready(stub)
        stub.add_response(
            "describe_stack_events", {"StackEvents": [BEFORE]}, {"StackName": STACK_ID}
        )
        stub.add_client_error(
            "execute_change_set",
            "InvalidChangeSetStatus",
            "ChangeSet [pipelines-plan] cannot be executed in its current status of [OBSOLETE]",
            expected_params={"ChangeSetName": CHANGE_SET_ARN},
        )
        with pytest.raises(JobError) as caught:
            cloudformation_apply(cfn, stack=STACK, change_set=CHANGE_SET_ARN, delay=0)
    message = str(caught.value)
    assert message.startswith(
        f"CloudFormation did not execute change set {CHANGE_SET} on {STACK}: ExecuteChangeSet "
        "failed: InvalidChangeSetStatus"
    )


def test_a_stack_still_changing_at_the_bound_is_a_timeout_naming_stack_and_change_set() -> None:
    with stubbed_cloudformation() as (cfn, stub):
        _executing(stub)
        started = event(1, STACK, STACK_TYPE, "UPDATE_IN_PROGRESS", "User Initiated")
        stub.add_response(
            "describe_stack_events", {"StackEvents": [started, BEFORE]}, {"StackName": STACK_ID}
        )
        stub.add_response("describe_stacks", stack("UPDATE_IN_PROGRESS"), {"StackName": STACK_ID})
        with pytest.raises(JobError) as caught:
            cloudformation_apply(cfn, stack=STACK, change_set=CHANGE_SET_ARN, delay=0, timeout=0)
    message = str(caught.value)
    assert message.startswith(
        f"stack {STACK} is still UPDATE_IN_PROGRESS after 0 seconds (change set {CHANGE_SET_ARN})"
    )
    assert "CloudFormation carries on" in message


@pytest.mark.parametrize(
    ("status", "execution", "says"),
    [
        ("CREATE_COMPLETE", "OBSOLETE", "the stack has changed since it was planned; plan again"),
        ("CREATE_COMPLETE", "EXECUTE_COMPLETE", "it has been executed already"),
        ("FAILED", "UNAVAILABLE", "CloudFormation could not plan it: Parameter Owner missing"),
    ],
)
def test_a_change_set_that_cannot_be_executed_is_refused_with_what_to_do(
    status: str, execution: str, says: str
) -> None:
    with stubbed_cloudformation() as (cfn, stub):
        answer = change_set(
            status, execution, "Parameter Owner missing" if status == "FAILED" else ""
        )
        stub.add_response("describe_change_set", answer, {"ChangeSetName": CHANGE_SET_ARN})
        with pytest.raises(JobError) as caught:
            cloudformation_apply(cfn, stack=STACK, change_set=CHANGE_SET_ARN, delay=0)
    assert str(caught.value) == (
        f"change set {CHANGE_SET} of stack {STACK} is {status}/{execution}: {says}"
    )


def test_apply_waits_for_a_change_set_still_being_planned() -> None:
    with stubbed_cloudformation() as (cfn, stub):
        _ready(stub, "CREATE_IN_PROGRESS", "UNAVAILABLE")
        stub.add_response(
            "describe_change_set",
            change_set("CREATE_IN_PROGRESS", "UNAVAILABLE"),
            {"ChangeSetName": CHANGE_SET_ARN},
        )
        with pytest.raises(TimedOut, match=f"{STACK}: change set {CHANGE_SET} is still"):
            cloudformation_apply(
                cfn, stack=STACK, change_set=CHANGE_SET_ARN, delay=0, plan_timeout=0
            )


def test_apply_of_a_change_set_that_is_not_there() -> None:
    with stubbed_cloudformation() as (cfn, stub):
        stub.add_client_error(
            "describe_change_set",
            "ChangeSetNotFound",
            "ChangeSet [release] does not exist",
            http_status_code=404,
            expected_params={"StackName": STACK, "ChangeSetName": "release"},
        )
        with pytest.raises(JobError, match=f"no change set 'release' on stack {STACK}"):
            cloudformation_apply(cfn, stack=STACK, change_set="release", delay=0)
