"""Reading the release pipeline: stages, pending approvals, and the digest an execution carries.

Which digest an execution promotes: the `ImageDigest` output variable of its Source stage's
`Image` action, read with list_action_executions filtered by the execution. That variable is
what every Plan and Deploy action's ParameterOverrides expand (`#{SourceVariables.ImageDigest}`),
so it is exactly the digest in the change sets an approval would apply. If the action history
does not have it, the execution's `Image` artifact revision (get_pipeline_execution), whose
revision ID for an ECR source is the digest, is the fallback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from pipelines import naming
from pipelines.aws import digests

DIGEST_VARIABLE = "ImageDigest"


@dataclass(frozen=True)
class Execution:
    """A stage's latest or inbound execution, as get_pipeline_state names it."""

    id: str
    status: str
    # StageExecution.type: STANDARD | ROLLBACK. Older responses leave it out; those executions
    # are treated as releases, as before the field existed.
    kind: str = "STANDARD"

    @property
    def is_rollback(self) -> bool:
        return self.kind == "ROLLBACK"


@dataclass(frozen=True)
class Approval:
    env: str
    stage: str  # the stage holding the environment's Approve action
    execution_id: str
    token: str
    action_execution_id: str
    since: datetime | None


@dataclass(frozen=True)
class Stage:
    """An environment's stage: the one holding its approval, else the first of its stages."""

    env: str
    latest: Execution | None
    inbound: tuple[Execution, ...]
    has_approval: bool
    approval: Approval | None  # pending: the Approve action is InProgress with a token
    name: str


@dataclass(frozen=True)
class Summary:
    """One execution from list_pipeline_executions.

    A stage rollback (RollbackStage, or a stage's OnFailure/condition result ROLLBACK) is an
    execution of its own: executionType ROLLBACK, and rollbackMetadata names the execution
    whose source revisions it runs the stage with again (`rollback_of`)."""

    id: str
    status: str
    digest: str | None
    started: datetime | None
    updated: datetime | None
    trigger: str = ""
    kind: str = "STANDARD"  # executionType: STANDARD | ROLLBACK
    rollback_of: str | None = None  # rollbackMetadata.rollbackTargetPipelineExecutionId

    @property
    def is_rollback(self) -> bool:
        return self.kind == "ROLLBACK"


@dataclass
class PipelineState:
    name: str
    stages: dict[str, Stage] = field(default_factory=dict)  # the stage named after each env
    stage_names: list[str] = field(default_factory=list)  # every stage, in pipeline order
    planned: dict[str, tuple[str, ...]] = field(default_factory=dict)  # the manifest's stages

    def environment_stages(self, env: str) -> list[str]:
        """An environment's stages in order, as the manifest lists them. A manifest from before
        it listed them: the stages named `<env>`, `<env>-2`…, `<env>-plan…`, `<env>-apply…`,
        `<env>-prepare` and `<env>-verify`."""
        if env in self.planned:
            return list(self.planned[env])
        own = re.compile(rf"^{re.escape(env)}(-\d+|-plan(-\d+)?|-apply(-\d+)?|-prepare|-verify)?$")
        return [name for name in self.stage_names if own.match(name)] or [naming.stage_name(env)]

    def final_stage(self, env: str) -> str:
        """The environment's last stage: an execution that succeeded there is done with it."""
        return self.environment_stages(env)[-1]


def read_state(
    cp: Any,
    pipeline: str,
    environments: tuple[str, ...],
    planned: dict[str, tuple[str, ...]] | None = None,
) -> PipelineState:
    response = cp.get_pipeline_state(name=pipeline)
    stages = response.get("stageStates", [])
    by_name = {s["stageName"]: s for s in stages}
    state = PipelineState(
        pipeline, stage_names=[s["stageName"] for s in stages], planned=dict(planned or {})
    )
    for env in environments:
        # The environment's stages as the manifest lists them; an older manifest's: the stage
        # named after the environment, which holds its approval.
        own = [
            by_name[n] for n in state.planned.get(env, (naming.stage_name(env),)) if n in by_name
        ]
        if own:
            raw = next((s for s in own if _approve_action(s) is not None), own[0])
            state.stages[env] = _stage(env, raw)
    return state


def _approve_action(raw: dict[str, Any]) -> dict[str, Any] | None:
    return next(
        (a for a in raw.get("actionStates", []) if a.get("actionName") == naming.APPROVAL_ACTION),
        None,
    )


def _execution(raw: dict[str, Any] | None) -> Execution | None:
    if not raw:
        return None
    return Execution(
        raw["pipelineExecutionId"], raw.get("status", ""), raw.get("type") or "STANDARD"
    )


def _stage(env: str, raw: dict[str, Any]) -> Stage:
    latest = _execution(raw.get("latestExecution"))
    inbound = [_execution(e) for e in raw.get("inboundExecutions", [])]
    if not inbound and raw.get("inboundExecution"):
        inbound = [_execution(raw["inboundExecution"])]
    approve = _approve_action(raw)
    approval = None
    if approve is not None and latest is not None:
        running = approve.get("latestExecution") or {}
        if running.get("status") == "InProgress" and running.get("token"):
            approval = Approval(
                env=env,
                stage=raw["stageName"],
                execution_id=latest.id,
                token=running["token"],
                action_execution_id=running.get("actionExecutionId", ""),
                since=running.get("lastStatusChange"),
            )
    return Stage(
        env,
        latest,
        tuple(e for e in inbound if e),
        approve is not None,
        approval,
        raw["stageName"],
    )


def action_executions(cp: Any, pipeline: str, execution_id: str) -> list[dict[str, Any]]:
    details: list[dict[str, Any]] = []
    token = None
    while True:
        page = cp.list_action_executions(
            pipelineName=pipeline,
            filter={"pipelineExecutionId": execution_id},
            **({"nextToken": token} if token else {}),
        )
        details += page.get("actionExecutionDetails", [])
        token = page.get("nextToken")
        if not token:
            return details


def digest_from_actions(details: list[dict[str, Any]]) -> str | None:
    for detail in details:
        if (
            detail.get("stageName") == naming.SOURCE_STAGE
            and detail.get("actionName") == naming.IMAGE_ARTIFACT
        ):
            value = detail.get("output", {}).get("outputVariables", {}).get(DIGEST_VARIABLE)
            if value and digests.is_full(value):
                return str(value)
    return None


def digest_from_revisions(cp: Any, pipeline: str, execution_id: str) -> str | None:
    execution = cp.get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=execution_id)
    return _image_revision(execution["pipelineExecution"])


def _image_revision(execution: dict[str, Any]) -> str | None:
    for revision in execution.get("artifactRevisions", []):
        if revision.get("name") == naming.IMAGE_ARTIFACT and digests.is_full(
            revision.get("revisionId", "")
        ):
            return str(revision["revisionId"])
    return None


def execution_digest(
    cp: Any, pipeline: str, execution_id: str, details: list[dict[str, Any]] | None = None
) -> str | None:
    if details is None:
        details = action_executions(cp, pipeline, execution_id)
    return digest_from_actions(details) or digest_from_revisions(cp, pipeline, execution_id)


def recent_executions(
    cp: Any, pipeline: str, *, limit: int = 50, succeeded_in: str | None = None
) -> list[Summary]:
    """The newest executions, newest first, with the digest each carries (from its source
    revision: for an ECR source the revision ID is the image digest). `succeeded_in` is a
    stage name. A rollback execution that lists no source revision carries the digest of the
    execution it rolls back to."""
    request: dict[str, Any] = {"pipelineName": pipeline, "maxResults": limit}
    if succeeded_in:
        request["filter"] = {"succeededInStage": {"stageName": succeeded_in}}
    summaries = cp.list_pipeline_executions(**request).get("pipelineExecutionSummaries", [])
    result = []
    for s in summaries:
        digest = next(
            (
                r.get("revisionId")
                for r in s.get("sourceRevisions", [])
                if r.get("actionName") == naming.IMAGE_ARTIFACT
                and digests.is_full(r.get("revisionId", ""))
            ),
            None,
        )
        result.append(
            Summary(
                s["pipelineExecutionId"],
                s.get("status", ""),
                digest,
                s.get("startTime"),
                s.get("lastUpdateTime"),
                s.get("trigger", {}).get("triggerType", ""),
                s.get("executionType", "STANDARD"),
                s.get("rollbackMetadata", {}).get("rollbackTargetPipelineExecutionId"),
            )
        )
    carried = {r.id: r.digest for r in result}
    return [_with_target_digest(cp, pipeline, r, carried) for r in result]


def described_execution(
    cp: Any, pipeline: str, execution_id: str, carried: dict[str, str | None] | None = None
) -> Summary:
    """One execution as get_pipeline_execution describes it, in the terms of `recent_executions`
    (it has no times). An execution still running is in no list filtered by the stages it
    succeeded in, yet a rollback among them must still be told apart and name its target.
    `carried`: digests already known by execution, which spare reading the target's."""
    raw = cp.get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=execution_id)[
        "pipelineExecution"
    ]
    summary = Summary(
        raw.get("pipelineExecutionId", execution_id),
        raw.get("status", ""),
        _image_revision(raw),
        None,
        None,
        raw.get("trigger", {}).get("triggerType", ""),
        raw.get("executionType", "STANDARD"),
        raw.get("rollbackMetadata", {}).get("rollbackTargetPipelineExecutionId"),
    )
    return _with_target_digest(cp, pipeline, summary, carried or {})


def _with_target_digest(
    cp: Any, pipeline: str, summary: Summary, carried: dict[str, str | None]
) -> Summary:
    """A rollback that names no source revision of its own carries its target's digest."""
    if summary.is_rollback and summary.digest is None and summary.rollback_of:
        return replace(summary, digest=_target_digest(cp, pipeline, summary.rollback_of, carried))
    return summary


def _target_digest(
    cp: Any, pipeline: str, target: str, carried: dict[str, str | None]
) -> str | None:
    """The digest of the execution a rollback goes back to: from the same page if it is there,
    else from that execution's artifact revisions."""
    if carried.get(target):
        return carried[target]
    return digest_from_revisions(cp, pipeline, target)
