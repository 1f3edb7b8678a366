"""`pipelines status` after a rollback names the digest as rolled back, not as the release that
first brought it: after `pipelines rollback` (outside the pipeline), and after a stage rollback
(an execution of type ROLLBACK). botocore's Stubber checks every answer against the model."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from pipelines.aws.status import DEPLOYMENT_IN_PROGRESS
from tests.aws.queued import D_OLD, D_PREV, E_OLD, E_PREV, old_execution_actions, queued_state
from tests.aws.stubs import (
    NOW,
    PIPELINE,
    StubbedClients,
    action_detail,
    actions_page,
    ecs_service,
    execution_summary,
    image,
    service_stack,
    task_definition,
)
from tests.aws.workspace import Workspace

DEV, PROD = ("222222222222", "eu-west-1"), ("333333333333", "eu-west-1")
E_ROLLBACK = "7d6c5b4a-3e2f-4a1b-9c8d-7e6f5a4b0004"
ROLLED_BACK = NOW - timedelta(minutes=20)  # when prod's stack was last updated
REDEPLOYED = NOW - timedelta(minutes=15)  # when the rollback execution's Apply-web finished


def _not_deployed(stubbed: StubbedClients, home: tuple[str, str], name: str) -> None:
    stubbed.stub("cloudformation", *home).add_client_error(
        "describe_stacks",
        service_error_code="ValidationError",
        service_message=f"Stack with id {name} does not exist",
        http_status_code=400,
        expected_params={"StackName": name},
    )


def _prod_runs(
    stubbed: StubbedClients,
    digest: str,
    history: list[dict[str, Any]],
    state: dict[str, Any] | None = None,
) -> None:
    """The pipeline with an approval pending in staging (dev and staging not deployed); prod's
    service on `digest`, and `history` the executions that succeeded in prod, newest first.
    `state`: get_pipeline_state's answer, queued_state() if None."""
    cp = stubbed.codepipeline()
    cp.add_response("get_pipeline_state", state or queued_state(), {"name": PIPELINE})
    cp.add_response(
        "list_action_executions",
        old_execution_actions(),
        {"pipelineName": PIPELINE, "filter": {"pipelineExecutionId": E_OLD}},
    )
    _not_deployed(stubbed, DEV, "shop-dev-web")
    _not_deployed(stubbed, DEV, "shop-staging-web")
    name = "shop-prod-web"
    stubbed.stub("cloudformation", *PROD).add_response(
        "describe_stacks",
        service_stack(name, PROD[0], image(digest), ROLLED_BACK),
        {"StackName": name},
    )
    ecs = stubbed.stub("ecs", *PROD)
    ecs.add_response(
        "describe_services", ecs_service(name, PROD[0]), {"cluster": name, "services": [name]}
    )
    ecs.add_response("describe_task_definition", task_definition(name, PROD[0], image(digest)))
    ecs.add_response(
        "list_service_deployments",
        {"serviceDeployments": []},
        {"cluster": name, "service": name, "status": list(DEPLOYMENT_IN_PROGRESS)},
    )
    cp.add_response(
        "list_pipeline_executions",
        {"pipelineExecutionSummaries": history},
        {
            "pipelineName": PIPELINE,
            "maxResults": 25,
            "filter": {"succeededInStage": {"stageName": "prod"}},
        },
    )


def _release(execution: str, digest: str, days_ago: int) -> dict[str, Any]:
    return execution_summary(execution, "Succeeded", digest, NOW - timedelta(days=days_ago))


def _rollback_execution(target: str, digest: str | None) -> dict[str, Any]:
    """A stage rollback as ListPipelineExecutions shows it; `digest` None: without source
    revisions."""
    summary = execution_summary(E_ROLLBACK, "Succeeded", digest or D_PREV, NOW - timedelta(hours=1))
    summary["trigger"] = {"triggerType": "AutomatedRollback", "triggerDetail": "prod"}
    summary["executionType"] = "ROLLBACK"
    summary["rollbackMetadata"] = {"rollbackTargetPipelineExecutionId": target}
    if digest is None:
        del summary["sourceRevisions"]
    return summary


def _prod(stubbed_output: str) -> dict[str, Any]:
    document = json.loads(stubbed_output)
    [prod] = [e for e in document["environments"] if e["name"] == "prod"]
    [web] = prod["services"]
    return dict(web)


def test_after_pipelines_rollback_the_digest_is_rolled_back_not_its_first_release(
    stubbed: StubbedClients, workspace: Workspace
) -> None:
    # E_PREV released D_PREV to prod, E_OLD released D_OLD after it; prod runs D_PREV again.
    _prod_runs(stubbed, D_PREV, [_release(E_OLD, D_OLD, 1), _release(E_PREV, D_PREV, 2)])
    result = workspace.run("status")
    assert result.exit_code == 0, result.output
    prod = next(line for line in result.output.splitlines() if line.startswith("prod "))
    # The "by execution" column, after the time it was deployed; the stage column follows.
    assert "2025-03-14 09:10 UTC  rolled back " in prod
    assert (
        "rolled back in prod/web outside the pipeline (`pipelines rollback`) at 2025-03-14 "
        f"09:10 UTC: {D_PREV} was released by execution {E_PREV}"
    ) in result.output


def test_after_pipelines_rollback_the_json_says_rolled_back_and_who_released_it(
    stubbed: StubbedClients, workspace: Workspace
) -> None:
    _prod_runs(stubbed, D_PREV, [_release(E_OLD, D_OLD, 1), _release(E_PREV, D_PREV, 2)])
    result = workspace.run("status", "--output", "json")
    assert result.exit_code == 0, result.output
    web = _prod(result.output)
    assert web["digest"] == D_PREV
    assert (web["rolled_back"], web["released_by"], web["deployed_by"]) == (True, E_PREV, None)
    assert web["deployed_at"] == ROLLED_BACK.isoformat()


def test_the_latest_release_is_not_rolled_back(
    stubbed: StubbedClients, workspace: Workspace
) -> None:
    _prod_runs(stubbed, D_OLD, [_release(E_OLD, D_OLD, 1), _release(E_PREV, D_PREV, 2)])
    stubbed.codepipeline().add_response(
        "list_action_executions",
        actions_page([action_detail(E_OLD, "prod", "Apply-web", "Succeeded")]),
        {"pipelineName": PIPELINE, "filter": {"pipelineExecutionId": E_OLD}},
    )
    result = workspace.run("status", "--output", "json")
    assert result.exit_code == 0, result.output
    web = _prod(result.output)
    assert (web["rolled_back"], web["released_by"], web["deployed_by"]) == (False, E_OLD, E_OLD)


def test_a_stage_rollback_deployed_the_digest_that_the_execution_it_names_released(
    stubbed: StubbedClients, workspace: Workspace
) -> None:
    history = [
        _rollback_execution(E_PREV, D_PREV),
        _release(E_OLD, D_OLD, 1),
        _release(E_PREV, D_PREV, 2),
    ]
    _prod_runs(stubbed, D_PREV, history)
    stubbed.codepipeline().add_response(
        "list_action_executions",
        actions_page(
            [action_detail(E_ROLLBACK, "prod", "Apply-web", "Succeeded", updated=REDEPLOYED)]
        ),
        {"pipelineName": PIPELINE, "filter": {"pipelineExecutionId": E_ROLLBACK}},
    )
    result = workspace.run("status", "--output", "json")
    assert result.exit_code == 0, result.output
    web = _prod(result.output)
    assert (web["rolled_back"], web["released_by"], web["deployed_by"]) == (
        True,
        E_PREV,
        E_ROLLBACK,
    )
    assert web["deployed_at"] == REDEPLOYED.isoformat()


def test_a_stage_rollback_without_source_revisions_carries_its_targets_digest(
    stubbed: StubbedClients, workspace: Workspace
) -> None:
    # The execution it goes back to is not on the page: its artifact revisions say the digest.
    _prod_runs(stubbed, D_PREV, [_rollback_execution(E_PREV, None), _release(E_OLD, D_OLD, 1)])
    cp = stubbed.codepipeline()
    cp.add_response(
        "get_pipeline_execution",
        {
            "pipelineExecution": {
                "pipelineName": PIPELINE,
                "pipelineExecutionId": E_PREV,
                "status": "Succeeded",
                "artifactRevisions": [{"name": "Image", "revisionId": D_PREV}],
                "executionType": "STANDARD",
            }
        },
        {"pipelineName": PIPELINE, "pipelineExecutionId": E_PREV},
    )
    cp.add_response(
        "list_action_executions",
        actions_page(
            [action_detail(E_ROLLBACK, "prod", "Apply-web", "Succeeded", updated=REDEPLOYED)]
        ),
        {"pipelineName": PIPELINE, "filter": {"pipelineExecutionId": E_ROLLBACK}},
    )
    result = workspace.run("status")
    assert result.exit_code == 0, result.output
    prod = next(line for line in result.output.splitlines() if line.startswith("prod "))
    assert f"rollback {E_ROLLBACK[:8]}" in prod
    assert (
        f"rolled back in prod/web by rollback execution {E_ROLLBACK} at 2025-03-14 09:15 UTC: "
        f"{D_PREV} was released by execution {E_PREV}"
    ) in result.output


def _rolling_back_in_prod(
    stubbed: StubbedClients,
    history: list[dict[str, Any]] | None = None,
    revisions: list[dict[str, str]] | None = None,
) -> None:
    """prod's stage runs E_ROLLBACK, a stage rollback to E_PREV not yet ended, and its service
    already runs D_PREV again. `history`: what succeeded in prod, by default E_OLD (D_OLD)
    after E_PREV (D_PREV). `revisions`: the rollback's own artifact revisions, by default none,
    so its digest is its target's, found in that history."""
    if history is None:
        history = [_release(E_OLD, D_OLD, 1), _release(E_PREV, D_PREV, 2)]
    state = queued_state()
    [prod] = [s for s in state["stageStates"] if s["stageName"] == "prod"]
    prod["latestExecution"] = {
        "pipelineExecutionId": E_ROLLBACK,
        "status": "InProgress",
        "type": "ROLLBACK",
    }
    _prod_runs(stubbed, D_PREV, history, state)
    stubbed.codepipeline().add_response(
        "get_pipeline_execution",
        {
            "pipelineExecution": {
                "pipelineName": PIPELINE,
                "pipelineExecutionId": E_ROLLBACK,
                "status": "InProgress",
                "artifactRevisions": revisions or [],
                "trigger": {"triggerType": "ManualRollback", "triggerDetail": "prod"},
                "executionMode": "QUEUED",
                "executionType": "ROLLBACK",
                "rollbackMetadata": {"rollbackTargetPipelineExecutionId": E_PREV},
            }
        },
        {"pipelineName": PIPELINE, "pipelineExecutionId": E_ROLLBACK},
    )


def test_a_stage_rollback_still_running_names_itself_on_the_service_it_rolled_back(
    stubbed: StubbedClients, workspace: Workspace
) -> None:
    _rolling_back_in_prod(stubbed)
    result = workspace.run("status")
    assert result.exit_code == 0, result.output
    prod = next(line for line in result.output.splitlines() if line.startswith("prod "))
    assert f"rollback {E_ROLLBACK[:8]}  InProgress {E_ROLLBACK[:8]}" in prod
    assert (
        f"rolled back in prod/web by rollback execution {E_ROLLBACK} at 2025-03-14 09:10 UTC: "
        f"{D_PREV} was released by execution {E_PREV}"
    ) in result.output


def test_a_stage_rollback_still_running_is_in_the_json_as_a_rollback(
    stubbed: StubbedClients, workspace: Workspace
) -> None:
    _rolling_back_in_prod(stubbed)
    result = workspace.run("status", "--output", "json")
    assert result.exit_code == 0, result.output
    web = _prod(result.output)
    assert (web["rolled_back"], web["released_by"], web["deployed_by"]) == (
        True,
        E_PREV,
        E_ROLLBACK,
    )
    assert web["deployed_at"] == ROLLED_BACK.isoformat()  # the stack's: the stage still runs


def test_a_stage_rollback_still_running_to_a_release_past_the_history_is_still_a_rollback(
    stubbed: StubbedClients, workspace: Workspace
) -> None:
    # E_PREV is older than the executions read; the rollback's revisions say the digest.
    _rolling_back_in_prod(
        stubbed, [_release(E_OLD, D_OLD, 1)], [{"name": "Image", "revisionId": D_PREV}]
    )
    result = workspace.run("status", "--output", "json")
    assert result.exit_code == 0, result.output
    web = _prod(result.output)
    assert (web["rolled_back"], web["released_by"], web["deployed_by"]) == (
        True,
        E_PREV,
        E_ROLLBACK,
    )
