"""The embedded AWS's change sets behave as CloudFormation's where the verbs depend on it:
an unchanged one is FAILED with CloudFormation's reason, executing one deletes its siblings,
one that cannot be executed is refused. Each test also runs on plain moto where that shows
what the patch changes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from pipelines.aws.cloudformation import create_change_set, find_change_set
from pipelines.jobs.cloudformation import cloudformation_apply, cloudformation_plan
from pipelines.local.changesets import cloudformation_like_change_sets
from tests.jobs.support import NO_CHANGES, outputs, template

STACK = "shop-dev-web"


@pytest.fixture
def cfn(fake_aws_credentials: None) -> Iterator[Any]:
    with mock_aws(), cloudformation_like_change_sets():
        yield boto3.client("cloudformation")


def _plan(cfn: Any, name: str, body: str, kind: str = "UPDATE", stack: str = STACK) -> str:
    created = cfn.create_change_set(
        StackName=stack,
        ChangeSetName=name,
        ChangeSetType=kind,
        TemplateBody=body,
        Parameters=[{"ParameterKey": "Owner", "ParameterValue": "team-a"}],
    )
    change_set_id: str = created["Id"]
    return change_set_id


def _created(cfn: Any, stack: str = STACK, *topics: str) -> None:
    cfn.execute_change_set(ChangeSetName=_plan(cfn, "first", _body(*topics), "CREATE", stack))


def _body(*topics: str) -> str:
    return template(*(topics or ("a",)), parameter=True)


def _names(cfn: Any, stack: str = STACK) -> list[str]:
    # moto lists the region's change sets whatever StackName says; CloudFormation, the stack's.
    summaries = cfn.list_change_sets(StackName=stack)["Summaries"]
    return [s["ChangeSetName"] for s in summaries if s["StackName"] == stack]


def test_an_unchanged_change_set_ends_failed_with_cloudformations_reason(cfn: Any) -> None:
    _created(cfn)
    change_set_id = _plan(cfn, "again", _body())  # accepted, not refused
    described = cfn.describe_change_set(ChangeSetName=change_set_id)
    assert (described["Status"], described["ExecutionStatus"], described["StatusReason"]) == (
        "FAILED",
        "UNAVAILABLE",
        NO_CHANGES,
    )
    changed = cfn.describe_change_set(ChangeSetName=_plan(cfn, "changed", _body("a", "b")))
    assert (changed["Status"], changed["ExecutionStatus"]) == ("CREATE_COMPLETE", "AVAILABLE")


def test_plain_moto_refuses_the_unchanged_change_set_that_the_patch_records(
    fake_aws_credentials: None,
) -> None:
    with mock_aws():
        cfn = boto3.client("cloudformation")
        _created(cfn)
        with pytest.raises(ClientError, match="No updates are to be performed"):
            _plan(cfn, "again", _body())


def test_update_stack_still_refuses_an_update_that_changes_nothing(cfn: Any) -> None:
    # CloudFormation's UpdateStack refuses it; only CreateChangeSet records it instead.
    _created(cfn)
    with pytest.raises(ClientError, match="No updates are to be performed"):
        cfn.update_stack(
            StackName=STACK,
            TemplateBody=_body(),
            Parameters=[{"ParameterKey": "Owner", "ParameterValue": "team-a"}],
        )


def test_executing_a_change_set_deletes_the_stacks_other_change_sets_only(cfn: Any) -> None:
    _created(cfn)
    _created(cfn, "shop-dev-other")
    executed = _plan(cfn, "release", _body("a", "b"))
    _plan(cfn, "pending", _body("a", "c"))
    _plan(cfn, "empty", _body())  # FAILED: no changes
    _plan(cfn, "elsewhere", _body("a", "d"), stack="shop-dev-other")
    assert _names(cfn) == ["first", "release", "pending", "empty"]

    cfn.execute_change_set(ChangeSetName=executed)

    assert _names(cfn) == ["release"]
    assert cfn.describe_change_set(ChangeSetName=executed)["ExecutionStatus"] == (
        "EXECUTE_COMPLETE"
    )
    assert find_change_set(cfn, STACK, "pending") is None
    assert _names(cfn, "shop-dev-other") == ["first", "elsewhere"]


@pytest.mark.parametrize("which", ["failed", "executed"])
def test_a_change_set_that_is_not_available_is_refused_as_cloudformation_refuses_it(
    cfn: Any, which: str
) -> None:
    _created(cfn)
    if which == "failed":
        change_set_id = _plan(cfn, "again", _body())
        status = "FAILED"
    else:
        change_set_id = _plan(cfn, "release", _body("a", "b"))
        cfn.execute_change_set(ChangeSetName=change_set_id)
        status = "CREATE_COMPLETE"
    with pytest.raises(ClientError) as refused:
        cfn.execute_change_set(ChangeSetName=change_set_id)
    assert refused.value.response["Error"]["Code"] == "InvalidChangeSetStatus"
    assert f"cannot be executed in its current status of [{status}]" in str(refused.value)


def test_deploys_change_set_that_changes_nothing_is_none_and_deleted(cfn: Any) -> None:
    _created(cfn)
    planned = create_change_set(
        cfn,
        STACK,
        "UPDATE",
        "pipelines-deploy",
        template={"TemplateBody": _body()},
        parameters=[{"ParameterKey": "Owner", "UsePreviousValue": True}],
        capabilities=(),
        tags=None,
        description="test",
    )
    assert planned is None
    assert _names(cfn) == ["first"]  # the FAILED one is deleted, the executed one stays


def test_the_jobs_plan_and_apply_nothing_for_a_change_set_that_changes_nothing(
    cfn: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    body = template("a")
    cloudformation_plan(cfn, stack=STACK, template=body, delay=0)
    cloudformation_apply(cfn, stack=STACK, change_set="pipelines-plan", delay=0)
    capsys.readouterr()

    assert cloudformation_plan(cfn, stack=STACK, template=body, delay=0) == 0
    planned = capsys.readouterr().out
    assert "No changes." in planned
    # Recorded, as CloudFormation records it: the plan hands on its ARN, and it is FAILED.
    change_set_id = outputs(planned)["changeSetId"]
    described = cfn.describe_change_set(ChangeSetName=change_set_id)
    assert (described["Status"], described["StatusReason"]) == ("FAILED", NO_CHANGES)

    assert cloudformation_apply(cfn, stack=STACK, change_set=change_set_id, delay=0) == 0
    applied = capsys.readouterr().out
    assert "holds no changes; nothing to apply" in applied
    assert outputs(applied)["summary"] == f"{STACK}: no changes"


def test_the_patches_are_removed_afterwards(fake_aws_credentials: None) -> None:
    from moto.cloudformation import models, responses

    before = (
        vars(responses.CloudFormationResponse)["create_change_set"],
        vars(models.CloudFormationBackend)["execute_change_set"],
    )
    with contextlib.ExitStack() as patches:
        patches.enter_context(cloudformation_like_change_sets())
        assert vars(responses.CloudFormationResponse)["create_change_set"] is not before[0]
    after = (
        vars(responses.CloudFormationResponse)["create_change_set"],
        vars(models.CloudFormationBackend)["execute_change_set"],
    )
    assert after == before
