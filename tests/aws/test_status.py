"""`pipelines status` with botocore's Stubber, on the queued scenario of tests/aws/queued.py."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from pipelines.aws.status import DEPLOYMENT_IN_PROGRESS
from tests.aws.queued import (
    D_NEW,
    D_OLD,
    D_PREV,
    E_NEW,
    E_OLD,
    E_PREV,
    old_execution_actions,
    queued_state,
)
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
DEPLOYED_DEV = NOW - timedelta(minutes=50)


def _service(
    stubbed: StubbedClients,
    home: tuple[str, str],
    name: str,
    uri: str,
    runs: str,
    deployment: dict | None = None,
):
    stubbed.stub("cloudformation", *home).add_response(
        "describe_stacks",
        service_stack(name, home[0], uri, NOW - timedelta(days=2)),
        {"StackName": name},
    )
    ecs = stubbed.stub("ecs", *home)
    ecs.add_response(
        "describe_services", ecs_service(name, home[0]), {"cluster": name, "services": [name]}
    )
    ecs.add_response("describe_task_definition", task_definition(name, home[0], runs), None)
    in_progress = {"cluster": name, "service": name, "status": list(DEPLOYMENT_IN_PROGRESS)}
    if deployment == DENIED:
        ecs.add_client_error(
            "list_service_deployments",
            service_error_code="AccessDeniedException",
            service_message="not authorized to perform: ecs:ListServiceDeployments",
            expected_params=in_progress,
        )
        return
    if deployment is None:
        ecs.add_response("list_service_deployments", {"serviceDeployments": []}, in_progress)
        return
    brief = {k: deployment[k] for k in ("serviceDeploymentArn", "serviceArn", "status")}
    ecs.add_response("list_service_deployments", {"serviceDeployments": [brief]}, in_progress)
    ecs.add_response(
        "describe_service_deployments",
        {"serviceDeployments": [deployment], "failures": []},
        {"serviceDeploymentArns": [deployment["serviceDeploymentArn"]]},
    )


# A role that predates ecs:ListServiceDeployments.
DENIED = {"denied": True}


def _canary(name: str, account: str) -> dict:
    """A canary deployment baking its 10 percent (DescribeServiceDeployments' shape)."""
    prefix = f"arn:aws:ecs:eu-west-1:{account}"
    return {
        "serviceDeploymentArn": f"{prefix}:service-deployment/{name}/{name}/abc123",
        "serviceArn": f"{prefix}:service/{name}/{name}",
        "status": "IN_PROGRESS",
        "lifecycleStage": "PRODUCTION_TRAFFIC_SHIFT",
        "startedAt": NOW - timedelta(minutes=3),
        "sourceServiceRevisions": [
            {
                "arn": f"{prefix}:service-revision/{name}/{name}/1",
                "requestedProductionTrafficWeight": 90.0,
            }
        ],
        "targetServiceRevision": {
            "arn": f"{prefix}:service-revision/{name}/{name}/2",
            "requestedProductionTrafficWeight": 10.0,
        },
        "deploymentConfiguration": {
            "strategy": "CANARY",
            "canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 15},
        },
    }


def _succeeded_in(stubbed: StubbedClients, stage: str, executions: list[tuple[str, str]]) -> None:
    summaries = [
        execution_summary(e, "Succeeded", d, NOW - timedelta(days=i + 1))
        for i, (e, d) in enumerate(executions)
    ]
    stubbed.codepipeline().add_response(
        "list_pipeline_executions",
        {"pipelineExecutionSummaries": summaries},
        {
            "pipelineName": PIPELINE,
            "maxResults": 25,
            "filter": {"succeededInStage": {"stageName": stage}},
        },
    )


def _actions(stubbed: StubbedClients, execution: str, details: list[dict]) -> None:
    stubbed.codepipeline().add_response(
        "list_action_executions",
        actions_page(details),
        {"pipelineName": PIPELINE, "filter": {"pipelineExecutionId": execution}},
    )


def _queue_everything(stubbed: StubbedClients, prod_deployment: dict | None = None) -> None:
    stubbed.codepipeline().add_response("get_pipeline_state", queued_state(), {"name": PIPELINE})
    # dev: runs E_NEW's digest, deployed by E_NEW.
    _service(stubbed, DEV, "shop-dev-web", image(D_NEW), image(D_NEW))
    _succeeded_in(stubbed, "dev", [(E_NEW, D_NEW), (E_OLD, D_OLD), (E_PREV, D_PREV)])
    _actions(
        stubbed,
        E_NEW,
        [
            # The release marker finished after the deployment; the deployment's time counts.
            action_detail(
                E_NEW, "dev", "Mark-deployed", "Succeeded", updated=DEPLOYED_DEV + timedelta(1)
            ),
            action_detail(E_NEW, "dev", "Deploy-web", "Succeeded", updated=DEPLOYED_DEV),
        ],
    )
    # staging: waits for approval of E_OLD, still runs E_PREV's digest.
    _actions(stubbed, E_OLD, old_execution_actions()["actionExecutionDetails"])
    _service(stubbed, DEV, "shop-staging-web", image(D_PREV), image(D_PREV))
    _succeeded_in(stubbed, "staging", [(E_PREV, D_PREV)])
    _actions(stubbed, E_PREV, [action_detail(E_PREV, "staging", "Apply-web", "Succeeded")])
    # prod: the stack says D_PREV, but ECS runs something else: drift.
    _service(stubbed, PROD, "shop-prod-web", image(D_PREV), image(D_OLD), prod_deployment)
    _succeeded_in(stubbed, "prod", [(E_PREV, D_PREV)])
    _actions(stubbed, E_PREV, [action_detail(E_PREV, "prod", "Apply-web", "Succeeded")])


def test_status_table(stubbed: StubbedClients, workspace: Workspace) -> None:
    _queue_everything(stubbed)
    result = workspace.run("status")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "pipeline shop-release (111111111111, eu-west-1)"
    dev, staging, prod = (
        next(line for line in lines if line.startswith(e)) for e in ("dev ", "staging ", "prod ")
    )
    assert "sha256:abcdef012345  ok" in dev and "2025-03-14 08:40 UTC" in dev
    assert E_NEW[:8] in dev and f"Succeeded {E_NEW[:8]}" in dev
    assert "sha256:111111111111  ok" in staging
    assert f"InProgress {E_OLD[:8]} (1 queued)" in staging
    assert "DRIFT" in prod
    assert (
        f"approval pending in staging since 2025-03-14 07:30 UTC: execution {E_OLD} promotes "
        f"{D_OLD}" in result.output
    )
    assert f"  pipelines approve staging --digest {D_OLD}\n" in result.output
    assert f"drift in prod/web: the stack says {image(D_PREV)}, ECS runs {image(D_OLD)}" in (
        result.output
    )
    # the waits the templates configure, from the manifest synth wrote
    assert (
        "configured waits, approvals excluded: dev 50s, staging 1m, prod 31m (10m bake); "
        "push to prod: 32m50s"
    ) in result.output


def test_status_before_the_pipeline_exists(stubbed: StubbedClients, workspace: Workspace) -> None:
    stubbed.codepipeline().add_client_error(
        "get_pipeline_state",
        service_error_code="PipelineNotFoundException",
        service_message="The account with id '111111111111' does not include a pipeline with "
        "the name 'shop-release'",
        http_status_code=400,
    )
    _service(stubbed, DEV, "shop-dev-web", image(D_PREV), image(D_PREV))
    for name, home in (("shop-staging-web", DEV), ("shop-prod-web", PROD)):
        stubbed.stub("cloudformation", *home).add_client_error(
            "describe_stacks",
            service_error_code="ValidationError",
            service_message=f"Stack with id {name} does not exist",
            http_status_code=400,
            expected_params={"StackName": name},
        )
    result = workspace.run("status")
    assert result.exit_code == 0, result.output
    assert "shop-release (111111111111, eu-west-1): not found, `pipelines deploy`" in result.output
    assert "outside pipeline" in result.output  # dev runs an image no execution carried
    assert result.output.count("not deployed") == 2


def test_status_json(stubbed: StubbedClients, workspace: Workspace) -> None:
    _queue_everything(stubbed)
    result = workspace.run("status", "--output", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["pipeline"] == "shop-release"
    envs = {e["name"]: e for e in document["environments"]}
    assert list(envs) == ["dev", "staging", "prod"]
    assert envs["dev"]["requires_approval"] is False
    [web] = envs["dev"]["services"]
    assert web["digest"] == D_NEW and web["deployed_by"] == E_NEW and web["drift"] is False
    assert web["deployed_at"] == DEPLOYED_DEV.isoformat()
    assert envs["staging"]["pending_approval"] == {
        "execution_id": E_OLD,
        "digest": D_OLD,
        "waiting_since": (NOW - timedelta(hours=2)).isoformat(),
    }
    assert envs["staging"]["queued"] == [{"id": E_NEW, "status": "InProgress"}]
    assert envs["prod"]["services"][0]["drift"] is True
    assert envs["prod"]["pending_approval"] is None
    assert envs["prod"]["configured_waits"] == {
        # prod's canary: 60 s of rollout plus 15 + 5 minutes of traffic shifting and bake
        "rollout_seconds": 60 + 1200,
        "bake_seconds": 600,
        "total_seconds": 1860,
    }


def test_status_shows_a_deployment_in_progress_with_its_phase(
    stubbed: StubbedClients, workspace: Workspace
) -> None:
    _queue_everything(stubbed, prod_deployment=_canary("shop-prod-web", PROD[0]))
    result = workspace.run("status")
    assert result.exit_code == 0, result.output
    assert (
        "canary deployment in progress in prod/web: IN_PROGRESS, phase PRODUCTION_TRAFFIC_SHIFT, "
        "10% of production traffic on the new revision"
    ) in result.output
    assert "deployment in progress in dev" not in result.output


def test_status_without_the_deployment_permissions_still_reports_everything_else(
    stubbed: StubbedClients, workspace: Workspace
) -> None:
    _queue_everything(stubbed, prod_deployment=DENIED)
    result = workspace.run("status")
    assert result.exit_code == 0, result.output
    assert (
        "prod/web: ecs:ListServiceDeployments failed (AccessDeniedException): the deployment's "
        "phase is not shown"
    ) in result.output
    assert "approval pending in staging" in result.output


def test_status_json_has_the_deployment_in_progress(
    stubbed: StubbedClients, workspace: Workspace
) -> None:
    _queue_everything(stubbed, prod_deployment=_canary("shop-prod-web", PROD[0]))
    document = json.loads(workspace.run("status", "--output", "json").output)
    envs = {e["name"]: e for e in document["environments"]}
    assert envs["dev"]["services"][0]["deployment"] is None
    assert envs["prod"]["services"][0]["deployment"] == {
        "status": "IN_PROGRESS",
        "phase": "PRODUCTION_TRAFFIC_SHIFT",
        "production_percent": 10.0,
        "strategy": "CANARY",
        "started_at": (NOW - timedelta(minutes=3)).isoformat(),
    }


def test_an_environments_stages_come_from_the_manifest_and_old_manifests_find_verify_stages() -> (
    None
):
    from pipelines.aws.pipeline_state import PipelineState

    names = ["Source", "dev", "prod-plan", "prod", "prod-apply", "prod-apply-2", "prod-verify"]
    planned = PipelineState(
        "shop-release",
        stage_names=names,
        planned={"prod": ("prod-plan", "prod", "prod-apply", "prod-apply-2", "prod-verify")},
    )
    assert planned.final_stage("prod") == "prod-verify"
    # A manifest written before synth listed the stages: found by their names, -verify included.
    legacy = PipelineState("shop-release", stage_names=names)
    assert legacy.environment_stages("prod") == names[2:]
    assert legacy.final_stage("prod") == "prod-verify"
    assert legacy.environment_stages("dev") == ["dev"]


def test_the_manifest_lists_each_environments_stages_in_order(tmp_path) -> None:
    from pipelines.aws.manifest import load_manifest
    from pipelines.render import write_atomically
    from pipelines.synth import synthesize
    from tests.support import EXAMPLE

    write_atomically(tmp_path / "t", synthesize(EXAMPLE).files)
    assert load_manifest(tmp_path / "t").stages == {
        "dev": ("dev",),
        "staging": ("staging",),
        "prod": ("prod",),
    }


def test_a_service_already_on_the_digest_of_its_stages_running_execution_names_it(
    stubbed: StubbedClients, workspace: Workspace
) -> None:
    # staging's stage runs E_OLD and its service already runs E_OLD's digest (applied, the
    # stage not yet ended): no execution carrying it succeeded in staging, yet E_OLD deploys it.
    stubbed.codepipeline().add_response("get_pipeline_state", queued_state(), {"name": PIPELINE})
    _service(stubbed, DEV, "shop-dev-web", image(D_NEW), image(D_NEW))
    _succeeded_in(stubbed, "dev", [(E_NEW, D_NEW)])
    _actions(stubbed, E_NEW, [action_detail(E_NEW, "dev", "Deploy-web", "Succeeded")])
    _actions(stubbed, E_OLD, old_execution_actions()["actionExecutionDetails"])  # its approval
    _service(stubbed, DEV, "shop-staging-web", image(D_OLD), image(D_OLD))
    _succeeded_in(stubbed, "staging", [(E_PREV, D_PREV)])
    _actions(stubbed, E_OLD, old_execution_actions()["actionExecutionDetails"])  # its digest
    _service(stubbed, PROD, "shop-prod-web", image(D_PREV), image(D_PREV))
    _succeeded_in(stubbed, "prod", [(E_PREV, D_PREV)])
    _actions(stubbed, E_PREV, [action_detail(E_PREV, "prod", "Apply-web", "Succeeded")])
    result = workspace.run("status")
    assert result.exit_code == 0, result.output
    staging = next(line for line in result.output.splitlines() if line.startswith("staging "))
    assert "outside pipeline" not in staging
    assert f"{E_OLD[:8]}  " in staging and f"InProgress {E_OLD[:8]}" in staging


def test_a_stage_execution_without_a_type_is_a_standard_one() -> None:
    from pipelines.aws.pipeline_state import read_state

    state = queued_state()
    for raw in state["stageStates"]:
        raw.get("latestExecution", {}).pop("type", None)  # as older responses have it

    class CodePipeline:
        def get_pipeline_state(self, name: str) -> dict[str, Any]:
            return state

    latest = read_state(CodePipeline(), PIPELINE, ("staging",)).stages["staging"].latest
    assert latest is not None and (latest.kind, latest.is_rollback) == ("STANDARD", False)
