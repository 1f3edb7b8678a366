"""CodePipeline's API over the interpreter: the operations moto does not have, answered in the
shapes botocore's service model gives them.

`CodePipelineService.call(operation, request)` takes the JSON a boto3 client sends
(`X-Amz-Target: CodePipeline_20150709.<operation>`) and returns the JSON it expects back, or
raises `ApiError` with the exception CodePipeline names for the case (server.py turns it into
the JSON protocol's error). The interpreter runs the executions in the background; this module
only starts, stops, retries and rolls back, decides approvals, and reads what the interpreter
remembers (history.py).

An ECR push starts an execution as the pipeline's EventBridge rule would (`pushed`): the rules
in the pipeline's account and Region that target the pipeline are read from the embedded AWS
and each enabled one is matched against the push's "ECR Image Action" event, as EventBridge
matches a pattern (event_pattern.py: moto does not answer TestEventPattern).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from pipelines.local.checks import ECR_SOURCE, S3_SOURCE
from pipelines.local.declaration import Action, Stage
from pipelines.local.event_pattern import UnsupportedPattern, matches
from pipelines.local.execution import Execution, now
from pipelines.local.history import ActionExecution, ApprovalError
from pipelines.local.interpreter import Interpreter, NotAllowed

TARGET_PREFIX = "CodePipeline_20150709."
PAGE = 100  # CodePipeline's default maxResults for the listings
VERSION = 1  # the pipeline's version: the sandbox never changes its declaration


class ApiError(Exception):
    """An answer of CodePipeline's with an error: `code` is its exception's name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


Handler = Callable[[Mapping[str, Any]], dict[str, Any]]


class OperationTable:
    """An API answered here: its operations by name, each a handler of the request's JSON."""

    def __init__(self, operations: dict[str, Handler]) -> None:
        self._operations = operations

    @property
    def operations(self) -> frozenset[str]:
        return frozenset(self._operations)

    def call(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        handler = self._operations.get(operation)
        if handler is None:
            raise ApiError("UnknownOperationException", f"{operation} is not answered here")
        return handler(request)


class PipelineRouter:
    """The pipelines of an app of several images, in one account and Region: a request goes to
    the pipeline it names, a push to every pipeline (each starts only if its own rule matches)."""

    def __init__(self, services: Sequence[CodePipelineService]) -> None:
        self.services = {s.pipeline.name: s for s in services}
        self.first = services[0]
        # ECS's service deployments, and the journal of a push that started nothing, are the
        # first pipeline's (docs/images.md says what the sandbox does not yet show).
        self.interpreter = self.first.interpreter

    @property
    def operations(self) -> frozenset[str]:
        return self.first.operations

    def call(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        if operation == "ListPipelines":
            listed = [s.call(operation, request)["pipelines"] for s in self.services.values()]
            return {"pipelines": [p for pipelines in listed for p in pipelines]}
        name = request.get("name", request.get("pipelineName"))
        named = self.services.get(name) if isinstance(name, str) else None
        # An unknown name is refused by any pipeline, as CodePipeline refuses it.
        return (named or self.first).call(operation, request)

    def pushed(self, account: str, region: str, repository: str, tag: str, digest: str) -> None:
        for service in self.services.values():
            service.pushed(account, region, repository, tag, digest)


class CodePipelineService(OperationTable):
    """One pipeline's API: the interpreter that runs it, in its account and Region."""

    def __init__(self, interpreter: Interpreter, partition: str = "aws") -> None:
        self.interpreter = interpreter
        self.pipeline = interpreter.pipeline
        self.account, self.region = interpreter.account, interpreter.region
        self.arn = f"arn:{partition}:codepipeline:{self.region}:{self.account}:{self.pipeline.name}"
        self.created = now()
        super().__init__(
            {
                "GetPipeline": self.get_pipeline,
                "ListPipelines": self.list_pipelines,
                "GetPipelineState": self.get_pipeline_state,
                "GetPipelineExecution": self.get_pipeline_execution,
                "ListPipelineExecutions": self.list_pipeline_executions,
                "ListActionExecutions": self.list_action_executions,
                "StartPipelineExecution": self.start_pipeline_execution,
                "StopPipelineExecution": self.stop_pipeline_execution,
                "RetryStageExecution": self.retry_stage_execution,
                "RollbackStage": self.rollback_stage,
                "PutApprovalResult": self.put_approval_result,
            }
        )

    def call(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return super().call(operation, request)
        except NotAllowed as refused:
            raise ApiError(refused.code, str(refused)) from None
        except ApprovalError as refused:
            raise ApiError(refused.code, str(refused)) from None

    # Pushes ------------------------------------------------------------------------------------

    def pushed(self, account: str, region: str, repository: str, tag: str, digest: str) -> None:
        """An image was pushed: start an execution if one of the pipeline's rules matches the
        push's event. A rule whose pattern cannot be read or matched is said, not guessed."""
        if (account, region) != (self.account, self.region):
            return  # a rule sees the events of its own account and Region only
        events = self.interpreter.context.clients.in_account("events", account, region)
        event = {
            "detail-type": "ECR Image Action",
            "source": "aws.ecr",
            "account": account,
            "region": region,
            "resources": [],
            "detail": {
                "result": "SUCCESS",
                "repository-name": repository,
                "image-digest": digest,
                "action-type": "PUSH",
                "image-tag": tag,
            },
        }
        names = events.list_rule_names_by_target(TargetArn=self.arn).get("RuleNames", [])
        for name in names:
            rule = events.describe_rule(Name=name)
            if rule.get("State") != "ENABLED" or not rule.get("EventPattern"):
                continue
            try:
                matched = matches(json.loads(rule["EventPattern"]), event)
            except (ValueError, UnsupportedPattern) as error:
                self.interpreter.journal.tell(f"rule {name} is not interpreted: {error}")
                continue
            if matched:
                self.interpreter.new_execution(digest, "CloudWatchEvent", rule["Arn"])
                return

    # Reading -----------------------------------------------------------------------------------

    def get_pipeline(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_name(request, "name")
        return {
            "pipeline": {**self.interpreter.declaration, "version": VERSION},
            "metadata": {"pipelineArn": self.arn, "created": self.created, "updated": self.created},
        }

    def list_pipelines(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "pipelines": [
                {
                    "name": self.pipeline.name,
                    "version": VERSION,
                    "pipelineType": str(self.interpreter.declaration.get("pipelineType", "V2")),
                    "executionMode": self.pipeline.execution_mode,
                    "created": self.created,
                    "updated": self.created,
                }
            ]
        }

    def get_pipeline_state(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_name(request, "name")
        return {
            "pipelineName": self.pipeline.name,
            "pipelineVersion": VERSION,
            "stageStates": [self._stage_state(i, s) for i, s in enumerate(self.pipeline.stages)],
            "created": self.created,
            "updated": self.created,
        }

    def _stage_state(self, index: int, stage: Stage) -> dict[str, Any]:
        history = self.interpreter.history
        state: dict[str, Any] = {
            "stageName": stage.name,
            "inboundTransitionState": {"enabled": True},
            "actionStates": [self._action_state(stage, a) for a in stage.actions],
        }
        inbound = [
            {"pipelineExecutionId": e.id, "status": "InProgress", "type": e.kind}
            for e in self._executions()
            if e.active
            and e.next_stage == index
            and history.status_in(e.id, stage.name) != "InProgress"
        ]
        if inbound:
            state["inboundExecution"] = inbound[0]
            state["inboundExecutions"] = inbound
        entry = self.interpreter.before_entry.state(stage.name)
        if entry is not None:
            state["beforeEntryConditionState"] = {
                "latestExecution": {"status": entry.status, "summary": entry.summary}
            }
        latest = history.stages.get(stage.name)
        if latest is not None:
            state["latestExecution"] = {
                "pipelineExecutionId": latest.execution.id,
                "status": latest.status,
                "type": latest.execution.kind,
            }
        return state

    def _action_state(self, stage: Stage, action: Action) -> dict[str, Any]:
        state: dict[str, Any] = {"actionName": action.name}
        record = self.interpreter.history.latest_action(stage.name, action.name)
        if record is None:
            return state
        latest: dict[str, Any] = {
            "actionExecutionId": record.id,
            "status": record.status,
            "lastStatusChange": record.updated,
        }
        if record.summary:
            latest["summary"] = record.summary
        if record.token:
            latest["token"] = record.token
        if record.updated_by:
            latest["lastUpdatedBy"] = record.updated_by
        if record.status == "Failed":
            latest["errorDetails"] = {"code": "JobFailed", "message": record.summary[:5000]}
        state["latestExecution"] = latest
        return state

    def get_pipeline_execution(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_name(request, "pipelineName")
        execution = self.interpreter.execution(_required(request, "pipelineExecutionId"))
        answer: dict[str, Any] = {
            "pipelineName": self.pipeline.name,
            "pipelineVersion": VERSION,
            "pipelineExecutionId": execution.id,
            "status": _status(execution),
            "artifactRevisions": self._artifact_revisions(execution),
            "trigger": _trigger(execution),
            "executionMode": self.pipeline.execution_mode,
            "executionType": execution.kind,
        }
        if execution.status_summary:
            answer["statusSummary"] = execution.status_summary
        if execution.rollback_of:
            answer["rollbackMetadata"] = {
                "rollbackTargetPipelineExecutionId": execution.rollback_of
            }
        return {"pipelineExecution": answer}

    def list_pipeline_executions(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_name(request, "pipelineName")
        executions = list(reversed(self._executions()))  # newest first
        stage = request.get("filter", {}).get("succeededInStage", {}).get("stageName")
        if stage:
            history = self.interpreter.history
            executions = [e for e in executions if history.status_in(e.id, stage) == "Succeeded"]
        page, token = _page(executions, request)
        return {"pipelineExecutionSummaries": [self._summary(e) for e in page], **token}

    def _summary(self, execution: Execution) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "pipelineExecutionId": execution.id,
            "status": _status(execution),
            "startTime": execution.started,
            "lastUpdateTime": execution.updated,
            "sourceRevisions": [
                {"actionName": action.name, "revisionId": execution.digest}
                for action in self._sources(ECR_SOURCE)
            ],
            "trigger": _trigger(execution),
            "executionMode": self.pipeline.execution_mode,
            "executionType": execution.kind,
        }
        if execution.status_summary:
            summary["statusSummary"] = execution.status_summary
        if execution.status in ("Stopping", "Stopped") and execution.status_summary:
            summary["stopTrigger"] = {"reason": execution.status_summary}
        if execution.rollback_of:
            summary["rollbackMetadata"] = {
                "rollbackTargetPipelineExecutionId": execution.rollback_of
            }
        return summary

    def list_action_executions(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_name(request, "pipelineName")
        wanted = request.get("filter", {}).get("pipelineExecutionId")
        history = self.interpreter.history
        records = history.of_execution(wanted) if wanted else list(history.actions)
        if wanted:
            self.interpreter.execution(wanted)  # an unknown one is an error, not an empty list
        page, token = _page(list(reversed(records)), request)  # newest first
        return {"actionExecutionDetails": [self._detail(r) for r in page], **token}

    def _detail(self, record: ActionExecution) -> dict[str, Any]:
        action = record.action
        given: dict[str, Any] = {
            "actionTypeId": dict(action.type._asdict()),
            "configuration": dict(action.configuration),
            "resolvedConfiguration": dict(record.configuration),
            "region": record.region,
            "inputArtifacts": [{"name": n} for n in action.input_artifacts],
        }
        if action.role_arn:
            given["roleArn"] = action.role_arn
        if action.namespace:
            given["namespace"] = action.namespace
        result: dict[str, Any] = {}
        if record.summary:
            result["externalExecutionSummary"] = record.summary
        if record.status == "Failed":
            result["errorDetails"] = {"code": "JobFailed", "message": record.summary[:5000]}
        output: dict[str, Any] = {
            "outputArtifacts": [{"name": n} for n in action.output_artifacts],
            "executionResult": result,
        }
        if record.output_variables:
            output["outputVariables"] = dict(record.output_variables)
        detail: dict[str, Any] = {
            "pipelineExecutionId": record.execution.id,
            "actionExecutionId": record.id,
            "pipelineVersion": VERSION,
            "stageName": record.stage,
            "actionName": action.name,
            "startTime": record.started,
            "lastUpdateTime": record.updated,
            "status": record.status,
            "input": given,
            "output": output,
        }
        if record.updated_by:
            detail["updatedBy"] = record.updated_by
        return detail

    # Acting ------------------------------------------------------------------------------------

    def start_pipeline_execution(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_name(request, "name")
        sources = self._sources(ECR_SOURCE)
        if not sources:
            raise ApiError("ValidationException", "the pipeline has no ECR source action")
        image = sources[0]
        digest = None
        for revision in request.get("sourceRevisions", []):
            if revision.get("actionName") != image.name:
                raise ApiError(
                    "ValidationException",
                    f"sourceRevisions: no ECR source action {revision.get('actionName')!r} "
                    f"(the pipeline's is {image.name})",
                )
            if revision.get("revisionType") != "IMAGE_DIGEST":
                raise ApiError(
                    "ValidationException",
                    f"sourceRevisions: an ECR source takes IMAGE_DIGEST, not "
                    f"{revision.get('revisionType')}",
                )
            digest = str(revision.get("revisionValue", ""))
        found = self._image(image, digest)
        execution = self.interpreter.new_execution(found, "StartPipelineExecution", "sandbox")
        return {"pipelineExecutionId": execution.id}

    def _image(self, source: Action, digest: str | None) -> str:
        """The digest the execution carries: the one given, which must be in the repository, or
        the one the source's tag names now."""
        repository = source.configuration["RepositoryName"]
        tag = source.configuration.get("ImageTag", "latest")
        region = source.region or self.region
        ecr = self.interpreter.context.clients.client("ecr", source.role_arn, region)
        wanted = {"imageDigest": digest} if digest else {"imageTag": tag}
        try:
            [detail] = ecr.describe_images(repositoryName=repository, imageIds=[wanted])[
                "imageDetails"
            ]
        except ClientError as error:
            raise ApiError(
                "ValidationException", f"no image {digest or tag} in {repository}: {error}"
            ) from None
        return str(detail["imageDigest"])

    def stop_pipeline_execution(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_name(request, "pipelineName")
        execution_id = _required(request, "pipelineExecutionId")
        if self.interpreter.execution(execution_id).status == "Stopping":
            raise ApiError("DuplicatedStopRequestException", f"{execution_id} is stopping")
        abandon = bool(request.get("abandon", False))
        reason = str(request.get("reason", "stopped"))
        self.interpreter.stop(execution_id, abandon, reason)
        return {"pipelineExecutionId": execution_id}

    def retry_stage_execution(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_name(request, "pipelineName")
        mode = _required(request, "retryMode")
        if mode not in ("FAILED_ACTIONS", "ALL_ACTIONS"):
            raise ApiError("ValidationException", f"retryMode {mode!r}")
        execution = self.interpreter.retry(
            _required(request, "pipelineExecutionId"),
            _required(request, "stageName"),
            "FAILED_ACTIONS" if mode == "FAILED_ACTIONS" else "ALL_ACTIONS",
        )
        return {"pipelineExecutionId": execution.id}

    def rollback_stage(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_name(request, "pipelineName")
        execution = self.interpreter.roll_back_stage(
            _required(request, "stageName"), _required(request, "targetPipelineExecutionId")
        )
        return {"pipelineExecutionId": execution.id}

    def put_approval_result(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_name(request, "pipelineName")
        stage_name, action_name = _required(request, "stageName"), _required(request, "actionName")
        stages = {s.name: s for s in self.pipeline.stages}
        if stage_name not in stages:
            raise ApiError("StageNotFoundException", f"no stage {stage_name}")
        if action_name not in {a.name for a in stages[stage_name].actions}:
            raise ApiError("ActionNotFoundException", f"no action {action_name} in {stage_name}")
        result = request.get("result", {})
        status = result.get("status")
        if status not in ("Approved", "Rejected"):
            raise ApiError("ValidationException", f"result.status {status!r}")
        approved_at = self.interpreter.history.decide(
            stage_name,
            action_name,
            _required(request, "token"),
            status == "Approved",
            str(result.get("summary", "")),
            by="put_approval_result",
        )
        return {"approvedAt": approved_at}

    # Helpers -----------------------------------------------------------------------------------

    def _check_name(self, request: Mapping[str, Any], key: str) -> None:
        name = _required(request, key)
        if name != self.pipeline.name:
            raise ApiError(
                "PipelineNotFoundException",
                f"The account with id '{self.account}' does not include a pipeline with the "
                f"name '{name}'",
            )

    def _executions(self) -> list[Execution]:
        return list(self.interpreter.executions)

    def _sources(self, kind: Any) -> list[Action]:
        return [a for a in self.pipeline.stages[0].actions if a.type == kind]

    def _artifact_revisions(self, execution: Execution) -> list[dict[str, Any]]:
        revisions: list[dict[str, Any]] = []
        for action in self._sources(ECR_SOURCE):
            revisions += [
                {"name": name, "revisionId": execution.digest, "created": execution.started}
                for name in action.output_artifacts
            ]
        history = {r.action.name: r for r in self.interpreter.history.of_execution(execution.id)}
        for action in self._sources(S3_SOURCE):
            version = history.get(action.name)
            if version is not None and "VersionId" in version.output_variables:
                revisions += [
                    {"name": name, "revisionId": version.output_variables["VersionId"]}
                    for name in action.output_artifacts
                ]
        return revisions


def _required(request: Mapping[str, Any], key: str) -> str:
    value = request.get(key)
    if not isinstance(value, str) or not value:
        raise ApiError("ValidationException", f"{key} is required")
    return value


def _status(execution: Execution) -> str:
    """CodePipeline's word: a rejected approval fails the execution."""
    return "Failed" if execution.status == "Rejected" else execution.status


def _trigger(execution: Execution) -> dict[str, str]:
    trigger: dict[str, str] = {"triggerType": execution.trigger}
    if execution.trigger_detail:
        trigger["triggerDetail"] = execution.trigger_detail
    return trigger


def _page(items: list[Any], request: Mapping[str, Any]) -> tuple[list[Any], dict[str, str]]:
    """One page of `items` by maxResults and nextToken (the token is the offset)."""
    size = int(request.get("maxResults") or PAGE)
    token = request.get("nextToken")
    start = int(token) if isinstance(token, str) and token.isdigit() else 0
    page = items[start : start + size]
    more = start + size < len(items)
    return page, ({"nextToken": str(start + size)} if more else {})


def json_default(value: object) -> object:
    """Timestamps as the JSON protocol sends them: seconds since the epoch."""
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"not JSON: {value!r}")


ECS_TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113."


class EcsDeploymentsService(OperationTable):
    """ECS's ListServiceDeployments and DescribeServiceDeployments, which moto does not answer,
    from the deployments the interpreter's strategies ran (rollout.Deployments). A service
    deployed without phases (a rolling update, a first deployment) has none listed here, where
    ECS would list its rolling deployments too."""

    def __init__(self, interpreter: Interpreter) -> None:
        self.deployments = interpreter.context.deployments
        super().__init__(
            {
                "ListServiceDeployments": self.list_service_deployments,
                "DescribeServiceDeployments": self.describe_service_deployments,
            }
        )

    def list_service_deployments(self, request: Mapping[str, Any]) -> dict[str, Any]:
        service = request.get("service")
        if not isinstance(service, str) or not service:
            raise ApiError("InvalidParameterException", "service is required")
        cluster = request.get("cluster")
        statuses = request.get("status", [])
        found = self.deployments.listed(
            cluster if isinstance(cluster, str) else None, service, statuses
        )
        page, token = _page(found, request)
        return {"serviceDeployments": page, **token}

    def describe_service_deployments(self, request: Mapping[str, Any]) -> dict[str, Any]:
        arns = request.get("serviceDeploymentArns")
        if not isinstance(arns, list) or not arns:
            raise ApiError("InvalidParameterException", "serviceDeploymentArns is required")
        found, failures = self.deployments.described(str(a) for a in arns)
        return {"serviceDeployments": found, "failures": failures}
