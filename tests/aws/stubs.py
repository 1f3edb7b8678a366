"""botocore Stubbers behind the verbs' Clients interface, and AWS responses in their real shapes.

moto does not implement get_pipeline_state, put_approval_result or list_action_executions, so
the verbs that read the pipeline are tested here: every response below is validated by the
Stubber against botocore's service model, and every request the verb makes must be the one
queued next for that client.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.session
from botocore.stub import Stubber

from pipelines.aws.session import Caller

TOOLCHAIN = ("111111111111", "eu-west-1")
REGISTRY = "111111111111.dkr.ecr.eu-west-1.amazonaws.com"
REPOSITORY = "shop-web"
PIPELINE = "shop-release"
NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


def digest(seed: str) -> str:
    return "sha256:" + (seed * 64)[:64]


def image(d: str) -> str:
    return f"{REGISTRY}/{REPOSITORY}@{d}"


class StubbedClients:
    """Clients for the verbs: one stubbed botocore client per (service, account, region)."""

    def __init__(self, account: str = "111111111111") -> None:
        self._session = botocore.session.get_session()
        self._clients: dict[tuple[str, str, str], Any] = {}
        self.stubbers: dict[tuple[str, str, str], Stubber] = {}
        self.caller = Caller(account, f"arn:aws:sts::{account}:assumed-role/release/alice")

    def stub(self, service: str, account: str, region: str) -> Stubber:
        key = (service, account, region)
        if key not in self.stubbers:
            client = self._session.create_client(
                service,
                region_name=region,
                aws_access_key_id="stub",
                aws_secret_access_key="stub",
            )
            self._clients[key] = client
            self.stubbers[key] = Stubber(client)
            self.stubbers[key].activate()
        return self.stubbers[key]

    def codepipeline(self) -> Stubber:
        return self.stub("codepipeline", *TOOLCHAIN)

    def client(self, service: str, account: str, region: str) -> Any:
        if (service, account, region) not in self._clients:
            raise AssertionError(f"unexpected client: {service} in {account} {region}")
        return self._clients[(service, account, region)]

    def where(self, account: str, region: str) -> str:
        return f"account {account}, {region}, as {self.caller.arn}"

    def verify(self) -> None:
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()


# CodePipeline ------------------------------------------------------------------------------------


def stage(
    name: str,
    latest: tuple[str, str] | None,
    actions: list[dict[str, Any]],
    inbound: list[tuple[str, str]] = (),
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "stageName": name,
        "inboundTransitionState": {"enabled": True},
        "actionStates": actions,
    }
    if latest:
        result["latestExecution"] = {
            "pipelineExecutionId": latest[0],
            "status": latest[1],
            "type": "STANDARD",
        }
    if inbound:
        result["inboundExecutions"] = [
            {"pipelineExecutionId": e, "status": s, "type": "STANDARD"} for e, s in inbound
        ]
    return result


def action(name: str, status: str | None, **execution: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"actionName": name}
    if status:
        result["latestExecution"] = {
            "actionExecutionId": execution.pop("action_execution_id", f"{name}-0001"),
            "status": status,
            "lastStatusChange": execution.pop("since", NOW - timedelta(minutes=20)),
            **execution,
        }
    return result


def approval(status: str, token: str = "", action_execution_id: str = "approve-0001") -> dict:
    extra = {"token": token} if token else {}
    return action(
        "Approve",
        status,
        action_execution_id=action_execution_id,
        since=NOW - timedelta(hours=2),
        **extra,
    )


def pipeline_state(stages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "pipelineName": PIPELINE,
        "pipelineVersion": 3,
        "stageStates": stages,
        "created": NOW - timedelta(days=30),
        "updated": NOW - timedelta(days=1),
    }


def action_detail(
    execution: str,
    stage_name: str,
    name: str,
    status: str,
    *,
    variables: dict[str, str] | None = None,
    action_execution_id: str | None = None,
    updated: datetime | None = None,
) -> dict[str, Any]:
    return {
        "pipelineExecutionId": execution,
        "actionExecutionId": action_execution_id or f"{execution[:8]}-{stage_name}-{name}",
        "pipelineVersion": 3,
        "stageName": stage_name,
        "actionName": name,
        "startTime": NOW - timedelta(hours=3),
        "lastUpdateTime": updated or NOW - timedelta(hours=2),
        "status": status,
        "input": {
            "actionTypeId": {
                "category": "Source" if stage_name == "Source" else "Deploy",
                "owner": "AWS",
                "provider": "ECR" if name == "Image" else "CloudFormation",
                "version": "1",
            },
            "configuration": {},
            "resolvedConfiguration": {},
            "region": "eu-west-1",
            "inputArtifacts": [],
        },
        "output": {"outputArtifacts": [], "outputVariables": variables or {}},
    }


def source_image(execution: str, d: str) -> dict[str, Any]:
    """The Source stage's Image action, with the output variables an ECR source sets."""
    return action_detail(
        execution,
        "Source",
        "Image",
        "Succeeded",
        variables={
            "ImageDigest": d,
            "ImageTag": "release",
            "ImageURI": image(d),
            "RegistryId": "111111111111",
            "RepositoryName": REPOSITORY,
        },
    )


def actions_page(details: list[dict[str, Any]]) -> dict[str, Any]:
    return {"actionExecutionDetails": details}


def execution_summary(
    execution: str, status: str, d: str, started: datetime, trigger: str = "CloudWatchEvent"
) -> dict[str, Any]:
    return {
        "pipelineExecutionId": execution,
        "status": status,
        "startTime": started,
        "lastUpdateTime": started + timedelta(minutes=30),
        "sourceRevisions": [
            {"actionName": "Image", "revisionId": d, "revisionSummary": f"{REPOSITORY}:release"},
            {"actionName": "Templates", "revisionId": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"},
        ],
        "trigger": {"triggerType": trigger, "triggerDetail": "arn:aws:events:eu-west-1"},
        "executionMode": "QUEUED",
        "executionType": "STANDARD",
    }


# CloudFormation and ECS --------------------------------------------------------------------------


def service_stack(name: str, account: str, uri: str, updated: datetime) -> dict[str, Any]:
    return {
        "Stacks": [
            {
                "StackId": f"arn:aws:cloudformation:eu-west-1:{account}:stack/{name}/0a1b2c3d",
                "StackName": name,
                "Parameters": [{"ParameterKey": "ImageUri", "ParameterValue": uri}],
                "CreationTime": NOW - timedelta(days=20),
                "LastUpdatedTime": updated,
                "StackStatus": "UPDATE_COMPLETE",
                "Capabilities": ["CAPABILITY_NAMED_IAM"],
                "Outputs": [
                    {"OutputKey": "ClusterName", "OutputValue": name},
                    {"OutputKey": "ServiceName", "OutputValue": name},
                    {
                        "OutputKey": "TaskDefinitionArn",
                        "OutputValue": f"arn:aws:ecs:eu-west-1:{account}:task-definition/{name}:7",
                    },
                    {"OutputKey": "ImageUri", "OutputValue": uri},
                ],
                "Tags": [{"Key": "pipelines:app", "Value": "shop"}],
            }
        ]
    }


def ecs_service(name: str, account: str) -> dict[str, Any]:
    task = f"arn:aws:ecs:eu-west-1:{account}:task-definition/{name}:7"
    return {
        "services": [
            {
                "serviceArn": f"arn:aws:ecs:eu-west-1:{account}:service/{name}/{name}",
                "serviceName": name,
                "clusterArn": f"arn:aws:ecs:eu-west-1:{account}:cluster/{name}",
                "status": "ACTIVE",
                "desiredCount": 2,
                "runningCount": 2,
                "pendingCount": 0,
                "launchType": "FARGATE",
                "taskDefinition": task,
            }
        ],
        "failures": [],
    }


def task_definition(name: str, account: str, uri: str) -> dict[str, Any]:
    return {
        "taskDefinition": {
            "taskDefinitionArn": f"arn:aws:ecs:eu-west-1:{account}:task-definition/{name}:7",
            "family": name,
            "revision": 7,
            "status": "ACTIVE",
            "containerDefinitions": [{"name": "web", "image": uri, "essential": True}],
        }
    }


def stack_event(
    n: int,
    logical: str,
    kind: str,
    status: str,
    reason: str = "",
    *,
    stack: str,
    stack_id: str,
    at: datetime,
    physical: str | None = None,
) -> dict[str, Any]:
    """A DescribeStackEvents event, `n` seconds after `at`."""
    result: dict[str, Any] = {
        "StackId": stack_id,
        "EventId": f"{logical}-{status}-{n}",
        "StackName": stack,
        "LogicalResourceId": logical,
        "ResourceType": kind,
        "Timestamp": at + timedelta(seconds=n),
        "ResourceStatus": status,
    }
    if physical is not None:
        result["PhysicalResourceId"] = physical
    if reason:
        result["ResourceStatusReason"] = reason
    return result
