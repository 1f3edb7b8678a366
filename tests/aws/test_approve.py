"""`pipelines approve` and `reject` with botocore's Stubber: the pending approval must promote the
digest the person named."""

from __future__ import annotations

from typing import Any

from botocore.stub import ANY

from tests.aws.queued import (
    D_NEW,
    D_OLD,
    E_NEW,
    E_OLD,
    TOKEN,
    in_flight,
    old_execution_actions,
    queued_state,
)
from tests.aws.stubs import (
    NOW,
    PIPELINE,
    StubbedClients,
    action_detail,
    actions_page,
    image,
    source_image,
)
from tests.aws.workspace import Workspace


def _expect_state(stubbed: StubbedClients, state: dict[str, Any] | None = None) -> None:
    stubbed.codepipeline().add_response(
        "get_pipeline_state", state or queued_state(), {"name": PIPELINE}
    )


def _expect_old_actions(stubbed: StubbedClients) -> None:
    stubbed.codepipeline().add_response(
        "list_action_executions",
        old_execution_actions(),
        {"pipelineName": PIPELINE, "filter": {"pipelineExecutionId": E_OLD}},
    )


def _expect_in_flight(stubbed: StubbedClients) -> None:
    stubbed.codepipeline().add_response(
        "list_pipeline_executions", in_flight(), {"pipelineName": PIPELINE, "maxResults": 50}
    )


def _expect_result(stubbed: StubbedClients, status: str, summary: Any = ANY) -> None:
    stubbed.codepipeline().add_response(
        "put_approval_result",
        {"approvedAt": NOW},
        {
            "pipelineName": PIPELINE,
            "stageName": "staging",
            "actionName": "Approve",
            "result": {"summary": summary, "status": status},
            "token": TOKEN,
        },
    )


def test_approve_the_pending_digest(stubbed: StubbedClients, workspace: Workspace) -> None:
    _expect_state(stubbed)
    _expect_old_actions(stubbed)
    _expect_result(stubbed, "Approved", "approved with pipelines approve by " + stubbed.caller.arn)
    result = workspace.run("approve", "staging", "--digest", D_OLD)
    assert result.exit_code == 0, result.output
    assert f"approved staging: execution {E_OLD}, image shop-web@{D_OLD}" in result.output


def test_approving_the_newer_queued_digest_is_refused(
    stubbed: StubbedClients, workspace: Workspace
) -> None:
    _expect_state(stubbed)
    _expect_old_actions(stubbed)
    _expect_in_flight(stubbed)
    result = workspace.run("approve", "staging", "--digest", D_NEW)
    assert result.exit_code == 3, result.output
    assert (
        f"refusing to approve staging: its pending approval belongs to execution {E_OLD}, "
        f"which promotes {D_OLD}, not {D_NEW}" in result.output
    )
    assert f"{D_NEW} is execution {E_NEW}, queued behind it" in result.output
    # No put_approval_result was queued: the Stubber would fail on an unexpected call.


def test_a_unique_prefix_is_accepted_and_an_ambiguous_one_refused(
    stubbed: StubbedClients, workspace: Workspace
) -> None:
    _expect_state(stubbed)
    _expect_old_actions(stubbed)
    _expect_in_flight(stubbed)
    ambiguous = workspace.run("approve", "staging", "--digest", D_OLD[:19])
    assert ambiguous.exit_code == 2, ambiguous.output
    assert "is ambiguous among the executions in flight" in ambiguous.output

    _expect_state(stubbed)
    _expect_old_actions(stubbed)
    _expect_in_flight(stubbed)
    _expect_result(stubbed, "Approved")
    unique = workspace.run("approve", "staging", "--digest", D_OLD[:20])
    assert unique.exit_code == 0, unique.output

    short = workspace.run("approve", "staging", "--digest", "abcdef01234")
    assert short.exit_code == 2 and "at least the first 12 hex digits" in short.output


def test_reject_with_a_comment(stubbed: StubbedClients, workspace: Workspace) -> None:
    _expect_state(stubbed)
    _expect_old_actions(stubbed)
    _expect_result(stubbed, "Rejected", "5xx in staging")
    result = workspace.run("reject", "staging", "--digest", D_OLD, "--comment", "5xx in staging")
    assert result.exit_code == 0, result.output
    assert f"rejected staging: execution {E_OLD}" in result.output


def test_nothing_pending_is_refused(stubbed: StubbedClients, workspace: Workspace) -> None:
    _expect_state(stubbed, queued_state(approve_status="Succeeded"))
    result = workspace.run("approve", "staging", "--digest", D_OLD)
    assert result.exit_code == 3
    assert "no approval is pending in staging" in result.output

    _expect_state(stubbed)
    direct = workspace.run("approve", "dev", "--digest", D_OLD)
    assert direct.exit_code == 3
    assert "dev has no approval step" in direct.output

    unknown = workspace.run("approve", "stagin", "--digest", D_OLD)
    assert unknown.exit_code == 2 and "did you mean 'staging'?" in unknown.output


def test_the_digest_falls_back_to_the_artifact_revision(
    stubbed: StubbedClients, workspace: Workspace
) -> None:
    """Without the Source action in the action history, get_pipeline_execution's Image
    artifact revision gives the digest."""
    _expect_state(stubbed)
    cp = stubbed.codepipeline()
    cp.add_response(
        "list_action_executions",
        actions_page(
            [
                action_detail(
                    E_OLD, "staging", "Approve", "InProgress", action_execution_id="approve-e-old"
                )
            ]
        ),
        {"pipelineName": PIPELINE, "filter": {"pipelineExecutionId": E_OLD}},
    )
    cp.add_response(
        "get_pipeline_execution",
        {
            "pipelineExecution": {
                "pipelineName": PIPELINE,
                "pipelineVersion": 3,
                "pipelineExecutionId": E_OLD,
                "status": "InProgress",
                "artifactRevisions": [
                    {"name": "Image", "revisionId": D_OLD, "revisionSummary": image(D_OLD)},
                    {"name": "Templates", "revisionId": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"},
                ],
                "trigger": {"triggerType": "CloudWatchEvent"},
                "executionMode": "QUEUED",
            }
        },
        {"pipelineName": PIPELINE, "pipelineExecutionId": E_OLD},
    )
    _expect_result(stubbed, "Approved")
    result = workspace.run("approve", "staging", "--digest", D_OLD)
    assert result.exit_code == 0, result.output


def test_an_approval_that_changed_while_read_is_not_acted_on(
    stubbed: StubbedClients, workspace: Workspace
) -> None:
    """The history shows another Approve action execution than the one holding the token."""
    _expect_state(stubbed)
    stubbed.codepipeline().add_response(
        "list_action_executions",
        actions_page(
            [
                action_detail(
                    E_OLD, "staging", "Approve", "Succeeded", action_execution_id="approve-other"
                ),
                source_image(E_OLD, D_OLD),
            ]
        ),
        {"pipelineName": PIPELINE, "filter": {"pipelineExecutionId": E_OLD}},
    )
    result = workspace.run("approve", "staging", "--digest", D_OLD)
    assert result.exit_code == 1
    assert "changed while it was read; run the command again" in result.output


def test_a_missing_pipeline_says_how_to_create_it(
    stubbed: StubbedClients, workspace: Workspace
) -> None:
    stubbed.codepipeline().add_client_error(
        "get_pipeline_state",
        service_error_code="PipelineNotFoundException",
        service_message="The account with id '111111111111' does not include a pipeline with "
        "the name 'shop-release'",
        http_status_code=400,
    )
    result = workspace.run("approve", "staging", "--digest", D_OLD)
    assert result.exit_code == 1
    assert "pipeline not found" in result.output
    assert "`pipelines deploy`" in result.output
    assert "Traceback" not in result.output


def test_the_approval_is_in_the_stage_the_manifest_lists_not_the_one_named_after_the_env() -> None:
    from pipelines.aws.pipeline_state import read_state

    def stage(name: str, *actions: dict[str, Any]) -> dict[str, Any]:
        latest = {"pipelineExecutionId": E_OLD, "status": "InProgress"}
        return {"stageName": name, "latestExecution": latest, "actionStates": list(actions)}

    waiting = {"status": "InProgress", "token": TOKEN, "actionExecutionId": "approve-e-old"}
    stages = [
        stage("Source"),
        stage("prod-plan", {"actionName": "Plan-web"}),
        stage("prod-gate", {"actionName": "Approve", "latestExecution": waiting}),
        stage("prod-apply", {"actionName": "Apply-web"}),
    ]

    class CodePipeline:
        def get_pipeline_state(self, name: str) -> dict[str, Any]:
            return {"pipelineName": name, "stageStates": stages}

    planned = {"prod": ("prod-plan", "prod-gate", "prod-apply")}
    state = read_state(CodePipeline(), PIPELINE, ("prod",), planned)
    approval = state.stages["prod"].approval
    assert approval is not None and (approval.stage, approval.token) == ("prod-gate", TOKEN)
    # A manifest from before it listed the stages: only the stage named after the environment.
    assert "prod" not in read_state(CodePipeline(), PIPELINE, ("prod",)).stages
