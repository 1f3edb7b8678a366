"""`pipelines status`: per environment, what runs, how it got there, and what waits.

Live digest: the service stack's ImageUri parameter, which is what CloudFormation owns. It is
checked against the image of the task definition the ECS service runs; a difference (someone
changed the service outside CloudFormation, or ECS rolled a deployment back) is flagged as drift.
Deployed by: the newest execution that succeeded in the environment's stage carrying that digest;
its Deploy or Apply action for the service gives the time. None matches after a first deploy
from the bootstrap image, or `pipelines rollback --to` an image no execution released: those
happen outside the pipeline.

Rolled back: a digest can be back on a service without being the latest release there.
- A stage rollback (RollbackStage, or the stage's automatic rollback) is an execution of its own,
  executionType ROLLBACK, whose rollbackMetadata names the execution it goes back to
  (GetPipelineExecution, ListPipelineExecutions). It deployed the digest; the execution it names
  released it. While it still runs in the environment's stage (get_pipeline_state's stage
  execution type ROLLBACK), a service already on its digest is shown as rolled back by it.
- `pipelines rollback` changes the stack through CloudFormation, outside the pipeline, so the
  pipeline's history shows only the execution that once released the digest. If a later
  execution succeeded in the environment with another digest, the digest came back after it:
  it is shown as rolled back, released by that execution, deployed by none, at the time the
  stack was last updated.

Deployment in progress: ECS's ListServiceDeployments, filtered to the deployments that have not
ended, and DescribeServiceDeployments of the newest, give its status and its lifecycle stage
(the phase: PRODUCTION_TRAFFIC_SHIFT while a canary or a linear step bakes, BAKE_TIME while the
old revision is kept, ...) and the share of production traffic ECS asked for on the new
revision (`requestedProductionTrafficWeight`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from pipelines import naming
from pipelines.aws import digests, text
from pipelines.aws.cloudformation import describe
from pipelines.aws.ecs import running_image
from pipelines.aws.errors import error_code, located
from pipelines.aws.manifest import DEPLOYING_KINDS, Manifest, StackEntry, load_manifest
from pipelines.aws.pipeline_state import (
    Execution,
    PipelineState,
    Stage,
    Summary,
    action_executions,
    described_execution,
    execution_digest,
    read_state,
    recent_executions,
)
from pipelines.aws.session import Clients
from pipelines.aws.stackplan import acting_on
from pipelines.durations import duration

HISTORY = 25  # executions per stage searched for the one that deployed the live digest
# A service deployment that has not ended, as ListServiceDeployments' status filter names them.
DEPLOYMENT_IN_PROGRESS = ("PENDING", "IN_PROGRESS", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS")


@dataclass
class ServiceStatus:
    service: str
    stack: str
    stack_status: str
    digest: str | None = None
    image: str | None = None
    running_image: str | None = None
    drift: bool = False
    deployed_at: datetime | None = None
    deployed_by: str | None = None  # the execution that put the digest here, if one did
    rolled_back: bool = False  # the digest came back: a stage rollback or `pipelines rollback`
    released_by: str | None = None  # the execution that released the digest (for a rollback:
    # the one rolled back to)
    deployment: dict[str, Any] | None = None  # ECS's deployment in progress: status, phase,
    # production_percent on the new revision


@dataclass
class PendingApproval:
    execution_id: str
    digest: str | None
    waiting_since: datetime | None


@dataclass
class EnvironmentStatus:
    name: str
    account: str
    region: str
    requires_approval: bool
    execution: dict[str, str] | None
    queued: list[dict[str, str]]
    pending_approval: PendingApproval | None
    services: list[ServiceStatus] = field(default_factory=list)


@dataclass
class Report:
    pipeline_found: bool
    environments: list[EnvironmentStatus] = field(default_factory=list)


@dataclass(frozen=True)
class StatusOptions:
    templates: Path
    image: str | None = None  # with several images: one of them (None: every image)


@dataclass
class Status:
    manifest: Manifest
    report: Report

    def lines(self) -> list[str]:
        """The table `pipelines status` prints."""
        return render(self.manifest, self.report)

    def json(self) -> str:
        """The document `pipelines status --output json` prints."""
        document = _jsonable(self.manifest, self.report)
        return json.dumps(document, indent=2, sort_keys=True, default=_isoformat)


def status(clients: Clients, options: StatusOptions) -> Status:
    manifest = load_manifest(options.templates).for_image(options.image)
    return Status(manifest, collect(clients, manifest))


def statuses(clients: Clients, options: StatusOptions) -> list[Status]:
    """The status of the image asked for; with several images and none asked for, of each."""
    manifest = load_manifest(options.templates)
    if options.image is not None or not manifest.images:
        return [status(clients, options)]
    return [
        Status(chosen, collect(clients, chosen))
        for chosen in (manifest.for_image(name) for name in manifest.image_names)
    ]


def collect(clients: Clients, manifest: Manifest) -> Report:
    home = (manifest.toolchain_account, manifest.toolchain_region)
    with located(clients.where(*home)):
        return _collect(clients, clients.client("codepipeline", *home), manifest)


def _collect(clients: Clients, cp: Any, manifest: Manifest) -> Report:
    try:
        state = read_state(cp, manifest.pipeline, manifest.promotion, manifest.stages)
    except ClientError as error:
        if error_code(error) != "PipelineNotFoundException":
            raise
        # Before the pipeline stack exists there is still something to show: the stacks.
        state, cp = PipelineState(manifest.pipeline), None
    report = Report(pipeline_found=cp is not None)
    for env in manifest.promotion:
        account, region = manifest.environment_home(env)
        stage = state.stages.get(env)
        report.environments.append(
            EnvironmentStatus(
                name=env,
                account=account,
                region=region,
                requires_approval=bool(stage and stage.has_approval),
                execution=_brief(stage.latest) if stage and stage.latest else None,
                queued=[_brief(e) for e in stage.inbound] if stage else [],
                pending_approval=_pending(cp, manifest, stage),
                services=_services(
                    clients,
                    cp,
                    manifest,
                    env,
                    state.environment_stages(env),
                    stage.latest if stage and stage.latest else None,
                ),
            )
        )
    return report


def _brief(execution: Execution) -> dict[str, str]:
    # The document keeps the shape it had before the stage execution's type was read: a
    # rollback shows in the services it rolled back.
    return {"id": execution.id, "status": execution.status}


def _pending(cp: Any, manifest: Manifest, stage: Stage | None) -> PendingApproval | None:
    if cp is None or stage is None or stage.approval is None:
        return None
    approval = stage.approval
    digest = execution_digest(cp, manifest.pipeline, approval.execution_id)
    return PendingApproval(approval.execution_id, digest, approval.since)


def _services(
    clients: Clients,
    cp: Any,
    manifest: Manifest,
    env: str,
    stages: list[str],
    latest: Execution | None = None,
) -> list[ServiceStatus]:
    rows = [_service(clients, entry) for entry in manifest.service_stacks(env)]
    deployed = [r for r in rows if r.digest]
    if cp is None or not deployed:
        return rows
    updated = {r.stack: r.deployed_at for r in deployed}  # the stacks' own times
    history = _found_in_history(cp, manifest, stages, deployed)
    if latest is not None and latest.status == "InProgress" and latest.is_rollback:
        _rolling_back(cp, manifest, latest, history, deployed, updated)
    elif latest is not None and latest.status == "InProgress":
        # An execution still in the environment's stage has not succeeded there, so the history
        # above cannot name it; a service already on its digest is being deployed by it.
        unnamed = [r for r in deployed if r.deployed_by is None and not r.rolled_back]
        if unnamed and (digest := execution_digest(cp, manifest.pipeline, latest.id)):
            for row in unnamed:
                if row.digest == digest:
                    row.deployed_by = latest.id
    return rows


def _rolling_back(
    cp: Any,
    manifest: Manifest,
    latest: Execution,
    history: list[Summary],
    deployed: list[ServiceStatus],
    updated: dict[str, datetime | None],
) -> None:
    """A stage rollback still running has not succeeded in the environment either, and the
    history may name its digest's release or take it for `pipelines rollback`; a service
    already on that digest is being rolled back by it. Its actions may not all have finished,
    so the time is the stack's last update."""
    carried = {s.id: s.digest for s in history}
    rollback = described_execution(cp, manifest.pipeline, latest.id, carried)
    if rollback.digest is None:
        return
    for row in deployed:
        if row.digest == rollback.digest:
            row.deployed_by = latest.id
            row.rolled_back = True
            row.released_by = rollback.rollback_of or row.released_by
            row.deployed_at = updated[row.stack]


def _found_in_history(
    cp: Any, manifest: Manifest, stages: list[str], deployed: list[ServiceStatus]
) -> list[Summary]:
    """Each service's digest in the executions that succeeded in the environment's last stage:
    who released it, who deployed it here and when, and whether it came back by a rollback.
    Returns those executions, newest first."""
    history = recent_executions(cp, manifest.pipeline, limit=HISTORY, succeeded_in=stages[-1])
    actions: dict[str, list[dict[str, Any]]] = {}
    for row in deployed:
        execution = _carrying(history, row.digest)
        if execution is None:
            continue
        row.released_by = execution.rollback_of if execution.is_rollback else execution.id
        row.rolled_back = execution.is_rollback or _released_since(history, execution)
        if row.rolled_back and not execution.is_rollback:
            continue  # put back outside the pipeline: no execution deployed it
        if execution.id not in actions:
            details = action_executions(cp, manifest.pipeline, execution.id)
            actions[execution.id] = [d for d in details if d.get("stageName") in stages]
        row.deployed_by = execution.id
        names = _deploying_actions(manifest, tuple(stages), row.service)
        row.deployed_at = _deployed_at(actions[execution.id], names) or row.deployed_at
    return history


def _deploying_actions(manifest: Manifest, stages: tuple[str, ...], service: str) -> set[str]:
    """The actions that put a new digest on the service: from the manifest's plan, or for an
    older manifest without actions, by the names synth gives them."""
    if manifest.actions:
        return manifest.service_actions(stages, service, DEPLOYING_KINDS)
    return {naming.deploy_action(service), naming.apply_action(service)}


def _carrying(history: list[Summary], digest: str | None) -> Summary | None:
    return next((s for s in history if s.digest == digest), None)


def _released_since(history: list[Summary], execution: Summary) -> bool:
    """Whether an execution newer than `execution` succeeded with a digest of its own (the
    history is newest first, and `execution` the newest carrying its digest)."""
    newer = history[: history.index(execution)]
    return any(s.digest for s in newer)


def _deployed_at(details: list[dict[str, Any]], names: set[str]) -> datetime | None:
    """When the execution's action that deployed the service (one of `names`) finished. The
    details are filtered to the stages of one environment by the caller."""
    for detail in details:
        if detail.get("actionName") in names and detail.get("status") == "Succeeded":
            return detail.get("lastUpdateTime")
    return None


def _service(clients: Clients, entry: StackEntry) -> ServiceStatus:
    assert entry.service is not None
    with acting_on(clients, entry):
        cfn = clients.client("cloudformation", entry.account, entry.region)
        live = describe(cfn, entry.name)
        if live is None:
            return ServiceStatus(entry.service, entry.name, "not deployed")
        image = live.parameters.get(naming.IMAGE_URI_PARAMETER)
        row = ServiceStatus(
            entry.service,
            entry.name,
            live.status,
            digest=digests.of_image(image or ""),
            image=image,
            deployed_at=live.updated,
        )
        cluster, service = live.outputs.get("ClusterName"), live.outputs.get("ServiceName")
        if cluster and service:
            ecs = clients.client("ecs", entry.account, entry.region)
            row.running_image = running_image(ecs, cluster, service)
            row.drift = row.running_image is not None and row.running_image != image
            row.deployment = _deployment_in_progress(ecs, cluster, service)
        return row


def _deployment_in_progress(ecs: Any, cluster: str, service: str) -> dict[str, Any] | None:
    """The service's newest deployment that has not ended, as ECS describes it; None if none.

    The phase is extra: a caller whose role predates ecs:ListServiceDeployments (or an endpoint
    without it) still gets the rest of the status, with a note saying why the phase is missing.
    """
    try:
        listed = ecs.list_service_deployments(
            cluster=cluster, service=service, status=list(DEPLOYMENT_IN_PROGRESS)
        ).get("serviceDeployments", [])
    except ClientError as error:
        return {"status": "UNKNOWN", "phase": None, "unavailable": _unavailable(error)}
    if not listed:
        return None
    arn = listed[0]["serviceDeploymentArn"]
    try:
        found = ecs.describe_service_deployments(serviceDeploymentArns=[arn]).get(
            "serviceDeployments", []
        )
    except ClientError as error:
        return {
            "status": listed[0].get("status", "UNKNOWN"),
            "phase": None,
            "unavailable": _unavailable(error),
        }
    if not found:
        return {"status": listed[0].get("status", "UNKNOWN"), "phase": None}
    described = found[0]
    target = described.get("targetServiceRevision", {})
    return {
        "status": described.get("status"),
        "phase": described.get("lifecycleStage"),
        "production_percent": target.get("requestedProductionTrafficWeight"),
        "strategy": described.get("deploymentConfiguration", {}).get("strategy"),
        "started_at": described.get("startedAt"),
    }


def render(manifest: Manifest, found: Report) -> list[str]:
    where = f"({manifest.toolchain_account}, {manifest.toolchain_region})"
    missing = "" if found.pipeline_found else ": not found, `pipelines deploy` creates it"
    lines = [f"pipeline {manifest.pipeline} {where}{missing}", ""]
    report = found.environments
    rows = [("environment", "service", "live digest", "drift", "deployed", "by execution", "stage")]
    for env in report:
        stage = _stage_text(env)
        for i, s in enumerate(env.services):
            first = i == 0
            rows.append(
                (
                    env.name if first else "",
                    s.service,
                    digests.short(s.digest) if s.digest else s.stack_status,
                    _drift_text(s),
                    text.when(s.deployed_at) if s.digest else "-",
                    _by_text(s),
                    stage if first else "",
                )
            )
    lines += text.table(rows)
    pending = [e for e in report if e.pending_approval]
    lines.append("")
    if not pending:
        lines.append("no approval pending")
    for env in pending:
        approval = env.pending_approval
        assert approval is not None
        lines.append(
            f"approval pending in {env.name} since {text.when(approval.waiting_since)}: execution "
            f"{approval.execution_id} promotes {approval.digest or 'an unknown digest'}"
        )
        if approval.digest:
            # The full digest: a prefix might also match the execution queued behind it.
            lines.append(f"  pipelines approve {env.name} --digest {approval.digest}")
    for env in report:
        lines += [_rolled_back_text(env.name, s) for s in env.services if s.rolled_back]
    for env in report:
        lines += [_deployment_text(env.name, s) for s in env.services if s.deployment]
    lines += _waits_text(manifest)
    drifted = [(e.name, s) for e in report for s in e.services if s.drift]
    for env_name, s in drifted:
        lines.append(
            f"drift in {env_name}/{s.service}: the stack says {s.image}, ECS runs {s.running_image}"
        )
    return lines


def _by_text(s: ServiceStatus) -> str:
    """The "by execution" column: the execution that deployed the digest, marked if it was a
    rollback execution; else how the digest got there."""
    if s.deployed_by:
        return f"rollback {_short_id(s.deployed_by)}" if s.rolled_back else _short_id(s.deployed_by)
    if s.rolled_back:
        return "rolled back"
    return "outside pipeline" if s.digest else "-"


def _unavailable(error: ClientError) -> str:
    operation = error.operation_name
    return f"ecs:{operation} failed ({error_code(error)}): the deployment's phase is not shown"


def _deployment_text(env: str, s: ServiceStatus) -> str:
    deployment = s.deployment or {}
    if deployment.get("unavailable") and deployment.get("status") == "UNKNOWN":
        return f"{env}/{s.service}: {deployment['unavailable']}"
    strategy = deployment.get("strategy")
    what = f"{strategy.lower()} deployment" if strategy else "deployment"
    line = f"{what} in progress in {env}/{s.service}: {deployment.get('status')}"
    if deployment.get("phase"):
        line += f", phase {deployment['phase']}"
    percent = deployment.get("production_percent")
    if percent is not None:
        line += f", {percent:g}% of production traffic on the new revision"
    if deployment.get("unavailable"):
        line += f" ({deployment['unavailable']})"
    return line


def _rolled_back_text(env: str, s: ServiceStatus) -> str:
    released = f"execution {s.released_by}" if s.released_by else "an unknown execution"
    how = (
        f"by rollback execution {s.deployed_by}"
        if s.deployed_by
        else "outside the pipeline (`pipelines rollback`)"
    )
    return (
        f"rolled back in {env}/{s.service} {how} at {text.when(s.deployed_at)}: "
        f"{s.digest} was released by {released}"
    )


def _waits_text(manifest: Manifest) -> list[str]:
    """The waits the deployed templates configure, as `pipelines synth` estimated them."""
    waits = manifest.configured_waits
    if not waits:
        return []
    parts = []
    for env in manifest.promotion:
        wait = waits[env]
        bake = f" ({duration(wait['bake_seconds'])} bake)" if wait["bake_seconds"] else ""
        parts.append(f"{env} {duration(wait['total_seconds'])}{bake}")
    total = sum(w["total_seconds"] for w in waits.values())
    return [
        f"configured waits, approvals excluded: {', '.join(parts)}; "
        f"push to {manifest.promotion[-1]}: {duration(total)}"
    ]


def _stage_text(env: EnvironmentStatus) -> str:
    if env.execution is None:
        return "not run"
    result = f"{env.execution['status']} {_short_id(env.execution['id'])}"
    if env.queued:
        result += f" ({len(env.queued)} queued)"
    return result


def _drift_text(s: ServiceStatus) -> str:
    if s.drift:
        return "DRIFT"
    return "-" if s.running_image is None else "ok"


def _short_id(execution_id: str) -> str:
    return execution_id[:8]


def _isoformat(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {value!r}")


def _jsonable(manifest: Manifest, report: Report) -> dict[str, Any]:
    # An app of several images says whose pipeline this is; one image's document is unchanged.
    image = {"image": manifest.image} if manifest.image is not None else {}
    return {
        **image,
        "pipeline": manifest.pipeline,
        "pipeline_found": report.pipeline_found,
        "toolchain": {"account": manifest.toolchain_account, "region": manifest.toolchain_region},
        "environments": [
            {**asdict(e), "configured_waits": manifest.configured_waits.get(e.name)}
            for e in report.environments
        ],
    }
