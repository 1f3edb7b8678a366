"""The sandbox's CodePipeline API, called through boto3 as the verbs call it, over HTTP.

A small pipeline (an ECR source, then two stages of one manual approval each) runs on the
interpreter behind the sandbox's server; its EventBridge rule is a real one in the embedded AWS.
Every answer is checked against botocore's service model: botocore parses it, then the parsed
response is validated against the operation's output shape (required members, types, and no
member the model does not have).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.validate import validate_parameters

from pipelines.local.execution import Hooks
from pipelines.local.interpreter import Interpreter
from pipelines.local.sandbox import generated_image
from pipelines.local.server import Server
from pipelines.local.service import CodePipelineService

ACCOUNT, REGION = "111111111111", "eu-west-1"
PIPELINE, REPOSITORY, TAG = "app-release", "app", "release"
ARN = f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:{PIPELINE}"
APPROVAL = {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}
MODEL = botocore.session.get_session().get_service_model("codepipeline")


def _declaration() -> dict[str, Any]:
    source = {
        "name": "Image",
        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "ECR", "version": "1"},
        "runOrder": 1,
        "configuration": {"RepositoryName": REPOSITORY, "ImageTag": TAG},
        "outputArtifacts": [{"name": "Image"}],
        "namespace": "SourceVariables",
    }

    def approval(stage: str) -> dict[str, Any]:
        return {
            "name": stage,
            "actions": [
                {
                    "name": "Approve",
                    "actionTypeId": APPROVAL,
                    "runOrder": 1,
                    "configuration": {"CustomData": "#{SourceVariables.ImageDigest}"},
                }
            ],
        }

    return {
        "name": PIPELINE,
        "roleArn": f"arn:aws:iam::{ACCOUNT}:role/app-pipeline",
        "artifactStore": {"type": "S3", "location": "app-artifacts"},
        "executionMode": "QUEUED",
        "pipelineType": "V2",
        "stages": [{"name": "Source", "actions": [source]}, approval("dev"), approval("prod")],
    }


class World:
    def __init__(self, server: Server, accounts: Any) -> None:
        self.server, self.accounts = server, accounts
        self.cp = accounts.client("codepipeline", ACCOUNT, REGION)
        self.ecr = accounts.client("ecr", ACCOUNT, REGION)
        self.service: CodePipelineService

    def fresh_pipeline(self) -> CodePipelineService:
        hooks = Hooks(None, lambda stack: None, lambda line: None)
        interpreter = Interpreter(self.accounts, _declaration(), ACCOUNT, REGION, hooks)
        self.service = CodePipelineService(interpreter)
        self.server.application.service = self.service
        return self.service

    def push(self, seed: str, tag: str = TAG) -> str:
        """As a CI pushes: under a build tag, then the tag (an image whose only tag moves to
        another image is dropped by moto, where ECR keeps it untagged)."""
        image = generated_image(seed)
        self.ecr.put_image(repositoryName=REPOSITORY, imageManifest=image, imageTag=f"b-{seed}")
        answer = self.ecr.put_image(repositoryName=REPOSITORY, imageManifest=image, imageTag=tag)
        return str(answer["image"]["imageId"]["imageDigest"])

    def call(self, operation: str, **request: Any) -> dict[str, Any]:
        """The operation through boto3, its parsed answer validated against botocore's model."""
        method = MODEL.operation_model(operation)
        answer: dict[str, Any] = getattr(self.cp, _snake(operation))(**request)
        answer.pop("ResponseMetadata", None)
        assert method.output_shape is not None
        validate_parameters(answer, method.output_shape)
        return answer


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    from pipelines.local.embedded import Accounts, embedded_aws

    server = Server()
    server.start()
    try:
        server.reset()
        with embedded_aws(REGION, server.endpoint):
            accounts = Accounts()
            accounts.client("ecr", ACCOUNT, REGION).create_repository(repositoryName=REPOSITORY)
            events = accounts.client("events", ACCOUNT, REGION)
            pattern = {
                "source": ["aws.ecr"],
                "detail-type": ["ECR Image Action"],
                "detail": {
                    "action-type": ["PUSH"],
                    "result": ["SUCCESS"],
                    "repository-name": [REPOSITORY],
                    "image-tag": [TAG],
                },
            }
            events.put_rule(Name="on-push", EventPattern=json.dumps(pattern), State="ENABLED")
            events.put_targets(Rule="on-push", Targets=[{"Id": "pipeline", "Arn": ARN}])
            yield World(server, accounts)
    finally:
        server.stop()


def _eventually(check: Callable[[], Any], seconds: float = 10) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def _pending(world: World, stage: str) -> dict[str, Any] | None:
    state = world.call("GetPipelineState", name=PIPELINE)
    [found] = [s for s in state["stageStates"] if s["stageName"] == stage]
    latest = found["actionStates"][0].get("latestExecution", {})
    return latest if latest.get("status") == "InProgress" and latest.get("token") else None


def _status(world: World, execution: str) -> str:
    answer = world.call(
        "GetPipelineExecution", pipelineName=PIPELINE, pipelineExecutionId=execution
    )
    return str(answer["pipelineExecution"]["status"])


def _approve(world: World, stage: str, token: str, status: str = "Approved") -> None:
    world.call(
        "PutApprovalResult",
        pipelineName=PIPELINE,
        stageName=stage,
        actionName="Approve",
        result={"summary": f"{status} in a test", "status": status},
        token=token,
    )


def test_a_push_of_the_release_tag_starts_an_execution_the_api_describes(world: World) -> None:
    world.fresh_pipeline()
    world.push("other", tag="latest")  # the rule matches the release tag only
    digest = world.push("first")
    listed = world.call("ListPipelineExecutions", pipelineName=PIPELINE)
    [summary] = listed["pipelineExecutionSummaries"]
    assert summary["trigger"]["triggerType"] == "CloudWatchEvent"
    assert summary["trigger"]["triggerDetail"].endswith(":rule/on-push")
    assert summary["sourceRevisions"] == [{"actionName": "Image", "revisionId": digest}]
    assert (summary["executionMode"], summary["executionType"]) == ("QUEUED", "STANDARD")
    execution = summary["pipelineExecutionId"]

    waiting = _eventually(lambda: _pending(world, "dev"))
    assert waiting, "the dev approval never waited"
    state = world.call("GetPipelineState", name=PIPELINE)
    stages = {s["stageName"]: s for s in state["stageStates"]}
    assert stages["Source"]["latestExecution"] == {
        "pipelineExecutionId": execution,
        "status": "Succeeded",
        "type": "STANDARD",
    }
    assert stages["dev"]["latestExecution"]["status"] == "InProgress"
    assert "latestExecution" not in stages["prod"]

    answer = world.call(
        "GetPipelineExecution", pipelineName=PIPELINE, pipelineExecutionId=execution
    )
    assert answer["pipelineExecution"]["artifactRevisions"][0]["revisionId"] == digest
    details = world.call(
        "ListActionExecutions",
        pipelineName=PIPELINE,
        filter={"pipelineExecutionId": execution},
    )["actionExecutionDetails"]
    assert [(d["stageName"], d["status"]) for d in details] == [
        ("dev", "InProgress"),  # newest first
        ("Source", "Succeeded"),
    ]
    source = details[1]
    assert source["output"]["outputVariables"]["ImageDigest"] == digest
    assert details[0]["input"]["resolvedConfiguration"] == {"CustomData": digest}


def test_approvals_take_their_token_only_once(world: World) -> None:
    world.fresh_pipeline()
    world.push("approvals")
    waiting = _eventually(lambda: _pending(world, "dev"))
    with pytest.raises(ClientError) as wrong:
        _approve(world, "dev", "not-the-token")
    assert wrong.value.response["Error"]["Code"] == "InvalidApprovalTokenException"
    with pytest.raises(ClientError) as no_stage:
        _approve(world, "qa", waiting["token"])
    assert no_stage.value.response["Error"]["Code"] == "StageNotFoundException"
    _approve(world, "dev", waiting["token"])
    with pytest.raises(ClientError) as again:
        _approve(world, "dev", waiting["token"])
    assert again.value.response["Error"]["Code"] == "ApprovalAlreadyCompletedException"
    prod = _eventually(lambda: _pending(world, "prod"))
    _approve(world, "prod", prod["token"], "Rejected")
    [summary] = world.call("ListPipelineExecutions", pipelineName=PIPELINE)[
        "pipelineExecutionSummaries"
    ]
    assert _eventually(lambda: _status(world, summary["pipelineExecutionId"]) == "Failed")
    state = world.call("GetPipelineState", name=PIPELINE)
    [prod_state] = [s for s in state["stageStates"] if s["stageName"] == "prod"]
    latest = prod_state["actionStates"][0]["latestExecution"]
    assert (latest["status"], latest["summary"]) == ("Failed", "Rejected in a test")


def test_stop_retry_and_a_queued_execution(world: World) -> None:
    world.fresh_pipeline()
    first = world.push("stop-1")
    _eventually(lambda: _pending(world, "dev"))
    second = world.push("stop-2")
    listed = world.call("ListPipelineExecutions", pipelineName=PIPELINE)
    newest, oldest = (s["pipelineExecutionId"] for s in listed["pipelineExecutionSummaries"])
    assert [
        r["revisionId"] for s in listed["pipelineExecutionSummaries"] for r in s["sourceRevisions"]
    ] == [second, first]

    def queued_for_dev() -> list[str]:
        state = world.call("GetPipelineState", name=PIPELINE)
        [dev] = [s for s in state["stageStates"] if s["stageName"] == "dev"]
        return [e["pipelineExecutionId"] for e in dev.get("inboundExecutions", [])]

    assert _eventually(lambda: queued_for_dev() == [newest])  # QUEUED behind the first

    world.call(
        "StopPipelineExecution",
        pipelineName=PIPELINE,
        pipelineExecutionId=oldest,
        abandon=True,
        reason="a test stops it",
    )
    assert _eventually(lambda: _status(world, oldest) == "Stopped")
    with pytest.raises(ClientError) as stopped:
        world.call("StopPipelineExecution", pipelineName=PIPELINE, pipelineExecutionId=oldest)
    assert stopped.value.response["Error"]["Code"] == "PipelineExecutionNotStoppableException"
    summaries = world.call("ListPipelineExecutions", pipelineName=PIPELINE)
    assert summaries["pipelineExecutionSummaries"][1]["stopTrigger"] == {
        "reason": "a test stops it"
    }
    # The second now holds dev: the first can no longer be retried there.
    waiting = _eventually(lambda: _pending(world, "dev"))
    with pytest.raises(ClientError) as not_latest:
        world.call(
            "RetryStageExecution",
            pipelineName=PIPELINE,
            stageName="dev",
            pipelineExecutionId=oldest,
            retryMode="FAILED_ACTIONS",
        )
    assert not_latest.value.response["Error"]["Code"] == "NotLatestPipelineExecutionException"
    _approve(world, "dev", waiting["token"])
    prod = _eventually(lambda: _pending(world, "prod"))
    world.call(
        "StopPipelineExecution",
        pipelineName=PIPELINE,
        pipelineExecutionId=newest,
        abandon=True,
        reason="again",
    )
    assert _eventually(lambda: _status(world, newest) == "Stopped")
    world.call(
        "RetryStageExecution",
        pipelineName=PIPELINE,
        stageName="prod",
        pipelineExecutionId=newest,
        retryMode="FAILED_ACTIONS",
    )
    retried = _eventually(lambda: _pending(world, "prod"))
    assert retried["token"] != prod["token"]
    _approve(world, "prod", retried["token"])
    assert _eventually(lambda: _status(world, newest) == "Succeeded")


def test_start_with_a_digest_and_roll_a_stage_back(world: World) -> None:
    world.fresh_pipeline()
    older = world.push("rollback-1")
    newer = world.push("rollback-2")
    assert world.call("ListPipelineExecutions", pipelineName=PIPELINE)["pipelineExecutionSummaries"]
    world.fresh_pipeline()  # a pipeline with no executions yet; both images are in ECR
    started = []
    for digest in (older, newer):
        answer = world.call(
            "StartPipelineExecution",
            name=PIPELINE,
            sourceRevisions=[
                {"actionName": "Image", "revisionType": "IMAGE_DIGEST", "revisionValue": digest}
            ],
        )
        started.append(answer["pipelineExecutionId"])
        for stage in ("dev", "prod"):
            _approve(world, stage, _eventually(lambda s=stage: _pending(world, s))["token"])
        assert _eventually(lambda e=started[-1]: _status(world, e) == "Succeeded")

    answer = world.call(
        "RollbackStage",
        pipelineName=PIPELINE,
        stageName="prod",
        targetPipelineExecutionId=started[0],
    )
    rollback = answer["pipelineExecutionId"]
    assert _eventually(lambda: _status(world, rollback) == "Succeeded")
    [summary] = [
        s
        for s in world.call("ListPipelineExecutions", pipelineName=PIPELINE)[
            "pipelineExecutionSummaries"
        ]
        if s["pipelineExecutionId"] == rollback
    ]
    assert summary["executionType"] == "ROLLBACK"
    assert summary["trigger"]["triggerType"] == "ManualRollback"
    assert summary["rollbackMetadata"] == {"rollbackTargetPipelineExecutionId": started[0]}
    assert summary["sourceRevisions"][0]["revisionId"] == older
    # The stage says which kind of execution ran it last, as `pipelines status` reads it.
    stages = {
        s["stageName"]: s for s in world.call("GetPipelineState", name=PIPELINE)["stageStates"]
    }
    assert stages["prod"]["latestExecution"] == {
        "pipelineExecutionId": rollback,
        "status": "Succeeded",
        "type": "ROLLBACK",
    }
    assert stages["dev"]["latestExecution"]["type"] == "STANDARD"
    # The rollback ran prod only; its approval is not asked again.
    details = world.call(
        "ListActionExecutions", pipelineName=PIPELINE, filter={"pipelineExecutionId": rollback}
    )["actionExecutionDetails"]
    assert details == []
    succeeded = world.call(
        "ListPipelineExecutions",
        pipelineName=PIPELINE,
        filter={"succeededInStage": {"stageName": "prod"}},
    )["pipelineExecutionSummaries"]
    assert [s["pipelineExecutionId"] for s in succeeded] == [rollback, started[1], started[0]]

    with pytest.raises(ClientError) as unknown:
        world.call(
            "RollbackStage",
            pipelineName=PIPELINE,
            stageName="prod",
            targetPipelineExecutionId=rollback + "x",
        )
    assert unknown.value.response["Error"]["Code"] == "PipelineExecutionNotFoundException"
    with pytest.raises(ClientError) as missing:
        world.call(
            "StartPipelineExecution",
            name=PIPELINE,
            sourceRevisions=[
                {
                    "actionName": "Image",
                    "revisionType": "IMAGE_DIGEST",
                    "revisionValue": "sha256:" + "0" * 64,
                }
            ],
        )
    assert missing.value.response["Error"]["Code"] == "ValidationException"


def test_another_pipeline_name_is_not_found_and_other_calls_are_motos(world: World) -> None:
    world.fresh_pipeline()
    with pytest.raises(ClientError) as raised:
        world.call("GetPipelineState", name="no-such-pipeline")
    assert raised.value.response["Error"]["Code"] == "PipelineNotFoundException"
    pipeline = world.call("GetPipeline", name=PIPELINE)["pipeline"]
    assert [s["name"] for s in pipeline["stages"]] == ["Source", "dev", "prod"]
    assert world.call("ListPipelines")["pipelines"][0]["name"] == PIPELINE
    # Not CodePipeline's: moto answers it.
    assert world.ecr.describe_repositories()["repositories"][0]["repositoryName"] == REPOSITORY
