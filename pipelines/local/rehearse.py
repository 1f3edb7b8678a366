"""`pipelines rehearse`: a whole release on an embedded AWS, with no account.

The rehearsal is a client of the sandbox (sandbox.py), the one engine behind both commands:

1. It opens a sandbox in this process, on a free port: environments/ synthesized into a
   temporary directory, the stand-ins, `pipelines deploy`'s own function for every stack, the
   pipeline's declaration handed to the interpreter that answers CodePipeline's API.
2. It pushes N generated image manifests with the release tag; each push starts an execution,
   as the pipeline's EventBridge rule would, and the executions run in the background.
3. It decides each manual approval through the API, as `pipelines approve` does: reads
   `get_pipeline_state` for the approval waiting, and answers with `put_approval_result`
   (--approve all, none, or ask on the terminal), until every execution it started has ended.
4. It reads back, per environment and service, the ImageUri parameter of the stack and the
   image of the ECS service's task definition, and compares them with what was meant to
   arrive; and the repository's `deployed-` tags the release marker moved.

With `endpoint_url`, the sandbox is one already running (`pipelines sandbox`, in another
process), which deployed the stacks itself: the rehearsal pushes, decides and reads back there.
A plain moto server cannot run a pipeline, and is refused with a message saying so.

It prints nothing: it reports progress to a `RehearsalReporter` and returns a `Result`, which the
command line renders (pipelines/console.py).
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from pipelines import image_naming, naming
from pipelines.aws.ecs import running_image
from pipelines.aws.errors import FAILED, OK, BadInput, OperationError
from pipelines.local.sandbox import (
    BOOTSTRAP_TAG,
    SandboxReporter,
    generated_image,
    pipeline_declaration_of,
    push_image,
    require_moto,
    runners_document,
)
from pipelines.local.sandbox import SILENT as SILENT_SANDBOX

if TYPE_CHECKING:
    from pipelines.aws.manifest import Manifest
    from pipelines.config.models import Project
    from pipelines.local.interpreter import Interpreter

# Names other modules and the tests import from here.
__all__ = [
    "BOOTSTRAP_TAG",
    "SILENT",
    "Live",
    "RehearsalOptions",
    "RehearsalReporter",
    "Result",
    "generated_image",
    "pipeline_declaration_of",
    "push_image",
    "rehearse",
    "runners_document",
]

APPROVE_CHOICES = ("all", "none", "ask")
POLL_SECONDS = 0.05  # how often the rehearsal reads the pipeline's state while it runs
RehearsalReporter = SandboxReporter
SILENT: RehearsalReporter = SILENT_SANDBOX


@dataclass(frozen=True)
class RehearsalOptions:
    environments: Path
    approve: str = "all"
    fail_at: str | None = None
    push: int = 1
    endpoint_url: str | None = None
    ask: Callable[[str], bool] | None = None  # for --approve ask: the question, yes or no
    image: str | None = None  # with several images: the one whose pipeline is rehearsed


@dataclass
class Live:
    environment: str
    service: str
    stack: str
    parameter: str | None  # the digest in the stack's ImageUri
    running: str | None  # the digest of the ECS service's task definition image


@dataclass
class Result:
    exit_code: int
    digests: list[str]
    bootstrap: str
    meant: list[str]  # environments meant to receive the last digest
    live: list[Live]
    events: list[Any]
    seconds: float
    tags: dict[str, str] = field(default_factory=dict)  # deployed-... tag -> digest, from ECR
    # Meant to receive the last digest, but the release stopped before it got there.
    untouched: frozenset[str] = frozenset()
    # With several images: the services of the other images, which the release must not touch.
    others: list[Live] = field(default_factory=list)


@dataclass(frozen=True)
class _Ended:
    """How an execution ended, as the API tells it."""

    status: str  # Succeeded, Failed, Stopped; Rejected: a manual approval said no
    stopped_at: str | None  # the stage it failed or stopped in


def rehearse(options: RehearsalOptions, reporter: RehearsalReporter = SILENT) -> Result:
    """Run the rehearsal; reports as it goes and returns what happened."""
    from pipelines.config.loader import load_project

    require_moto()
    if options.approve not in APPROVE_CHOICES:
        raise BadInput(f"--approve must be one of {', '.join(APPROVE_CHOICES)}")
    if options.push < 1:
        raise BadInput("--push must be at least 1")
    started = time.monotonic()
    project = load_project(options.environments)
    if project.images and options.image is None:
        raise BadInput(
            f"{project.app} has several images: pass --image NAME (one of "
            f"{', '.join(project.images)}) to rehearse the release of that image"
        )
    if options.image is not None and options.image not in project.images:
        known = ", ".join(project.images) or "none: it has one `image`"
        raise BadInput(f"--image {options.image}: no such image (images: {known})")
    promotion = [e.name for e in project.environments]
    if options.fail_at and options.fail_at not in promotion:
        raise BadInput(
            f"--fail-at {options.fail_at}: no such environment (promotion: {', '.join(promotion)})"
        )
    if options.approve == "ask" and options.ask is None and _has_approvals(project):
        raise BadInput(
            "--approve ask asks on the terminal before each approval, and standard input is "
            "not one: pass --approve all or --approve none"
        )
    if options.endpoint_url and options.fail_at:
        raise BadInput(
            "--fail-at injects failures into the rehearsal's own sandbox; a sandbox at "
            "--endpoint-url runs in another process: leave out one of them"
        )
    with tempfile.TemporaryDirectory(prefix="pipelines-rehearse-") as tmp:
        templates = Path(tmp) / "templates"
        if options.endpoint_url:
            return _in_running_sandbox(options, project, templates, started, reporter)
        return _in_own_sandbox(options, project, templates, started, reporter)


def _has_approvals(project: Project) -> bool:
    return any(env.requires_approval for env in project.environments)


def _in_own_sandbox(
    options: RehearsalOptions,
    project: Project,
    templates: Path,
    started: float,
    reporter: RehearsalReporter,
) -> Result:
    from pipelines.local.sandbox import SandboxOptions, open_sandbox

    app = project.app
    view = project.for_image(options.image)
    fail_stacks = {
        naming.service_stack(app, env.name, service)
        for env in project.environments
        if env.name == options.fail_at
        for service in view.services
    }

    def inject(stack: str) -> str | None:
        return f"--fail-at {options.fail_at}" if stack in fail_stacks else None

    pipeline = image_naming.pipeline_name(app, options.image)
    reporter.info(
        f"rehearsing {pipeline} on an embedded AWS (moto in this process), no account used"
    )
    sandbox_options = SandboxOptions(options.environments, templates, inject_failure=inject)
    with open_sandbox(sandbox_options, reporter) as sandbox:
        manifest = sandbox.manifest.for_image(options.image)
        return _release(
            options,
            manifest,
            sandbox.clients,
            sandbox.bootstrap,
            started,
            reporter,
            sandbox.interpreters[manifest.pipeline],
            sandbox.manifest,
        )


def _in_running_sandbox(
    options: RehearsalOptions,
    project: Project,
    templates: Path,
    started: float,
    reporter: RehearsalReporter,
) -> Result:
    from pipelines.aws.manifest import load_manifest
    from pipelines.aws.session import Sessions
    from pipelines.local.embedded import embedded_aws
    from pipelines.render import write_atomically
    from pipelines.synth import synthesize

    url = options.endpoint_url
    assert url is not None
    write_atomically(templates, synthesize(options.environments).files)
    manifest = load_manifest(templates).for_image(options.image)
    reporter.info(
        f"rehearsing {manifest.pipeline} on the sandbox at {url} (the stacks as it deployed "
        "them), no account used"
    )
    with embedded_aws(manifest.toolchain_region, url):
        clients = Sessions(region=manifest.toolchain_region)
        _check_sandbox(clients, manifest, url)
        bootstrap = _bootstrap_digest(clients, manifest)
        whole = load_manifest(templates)
        return _release(options, manifest, clients, bootstrap, started, reporter, None, whole)


def _check_sandbox(clients: Any, manifest: Manifest, url: str) -> None:
    """The endpoint runs this pipeline: a `pipelines sandbox` of these environments."""
    home = (manifest.toolchain_account, manifest.toolchain_region)
    try:
        listed = clients.client("codepipeline", *home).list_pipelines().get("pipelines", [])
    except (BotoCoreError, ClientError) as error:
        raise BadInput(
            f"--endpoint-url {url}: {error}. Is `pipelines sandbox` running there?"
        ) from None
    if manifest.pipeline not in {p.get("name") for p in listed}:
        raise BadInput(
            f"--endpoint-url {url} runs no pipeline {manifest.pipeline}: it is not a "
            "`pipelines sandbox` of these environments (a plain moto server has no CodePipeline "
            "to run it). Start one with `pipelines sandbox --environments "
            "<dir>`, or leave out --endpoint-url to rehearse on an embedded AWS of its own"
        )


def _bootstrap_digest(clients: Any, manifest: Manifest) -> str:
    ecr = clients.client("ecr", manifest.toolchain_account, manifest.toolchain_region)
    try:
        [image] = ecr.describe_images(
            repositoryName=manifest.repository, imageIds=[{"imageTag": BOOTSTRAP_TAG}]
        )["imageDetails"]
    except (ClientError, ValueError):
        return ""
    return str(image["imageDigest"])


def _release(
    options: RehearsalOptions,
    manifest: Manifest,
    clients: Any,
    bootstrap: str,
    started: float,
    reporter: RehearsalReporter,
    engine: Interpreter | None,
    whole: Manifest | None = None,
) -> Result:
    """Push, decide the approvals through the API until every execution pushed has ended, and
    read back what runs. `engine` is the sandbox's interpreter when it runs in this process:
    its errors end the rehearsal, its events are the result's. With several images, `manifest`
    is the rehearsed image's and `whole` the app's: the other images' services must still run
    what they ran before (the bootstrap, in a sandbox of its own)."""
    before = _others(clients, manifest, whole)
    home = (manifest.toolchain_account, manifest.toolchain_region)
    cp = clients.client("codepipeline", *home)
    declaration = cp.get_pipeline(name=manifest.pipeline)["pipeline"]
    environment_of = {e.name: e.environment for e in manifest.stacks}

    reporter.info(
        f"\n== pushing {options.push} image(s) to {manifest.repository}:{manifest.release_tag}"
    )
    ours: dict[str, int] = {}  # execution id -> its number in the rehearsal
    digests: list[str] = []
    hold = engine.held() if engine is not None else _nothing()
    with hold:  # a burst of pushes queues before any of them moves, as in one rehearsal
        for number in range(1, options.push + 1):
            seed = f"release-{number}-{uuid.uuid4()}"
            digest = push_image(clients, manifest, seed, manifest.release_tag)
            ours[_started_by(cp, manifest, digest, ours)] = number
            digests.append(digest)
            reporter.info(
                f"push {number}: {manifest.repository}@{digest} starts execution #{number}"
            )
        reporter.info(f"\n== running {manifest.pipeline} (execution mode QUEUED)")
    _decide_until_ended(cp, manifest, ours, options, reporter, engine)

    last = next(i for i, n in ours.items() if n == options.push)
    ended = _ended(cp, manifest.pipeline, last)
    meant = _meant(declaration, environment_of, ended, manifest)
    reached = _meant(declaration, environment_of, ended, manifest, stopped=True)
    live = read_back(clients, manifest)
    tags = deployed_tags(clients, manifest)
    seconds = time.monotonic() - started
    untouched = frozenset(meant) - set(reached)
    others = _others(clients, manifest, whole)
    ok = every_meant_runs(live, digests[-1], meant) and others == before
    return Result(
        OK if ok else FAILED,
        digests,
        bootstrap,
        meant,
        live,
        list(engine.events) if engine is not None else [],
        seconds,
        tags,
        untouched,
        others,
    )


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _started_by(cp: Any, manifest: Manifest, digest: str, taken: dict[str, int]) -> str:
    """The execution the push of `digest` started, as the API lists it."""
    listed = cp.list_pipeline_executions(pipelineName=manifest.pipeline, maxResults=20)
    for summary in listed.get("pipelineExecutionSummaries", []):
        revisions = {r.get("revisionId") for r in summary.get("sourceRevisions", [])}
        if digest in revisions and summary["pipelineExecutionId"] not in taken:
            return str(summary["pipelineExecutionId"])
    raise OperationError(
        f"the push of {manifest.repository}@{digest} started no execution of "
        f"{manifest.pipeline}: does its EventBridge rule match the release tag "
        f"{manifest.release_tag}?"
    )


def _decide_until_ended(
    cp: Any,
    manifest: Manifest,
    ours: dict[str, int],
    options: RehearsalOptions,
    reporter: RehearsalReporter,
    engine: Interpreter | None,
) -> None:
    """Answer every approval our executions wait at, as --approve says, until all ended."""
    decided: set[str] = set()
    digest_of: dict[str, str] = {}
    while True:
        if engine is not None and engine.errors:
            raise engine.errors[0]
        state = cp.get_pipeline_state(name=manifest.pipeline)
        for stage in state.get("stageStates", []):
            execution = stage.get("latestExecution", {}).get("pipelineExecutionId")
            if execution not in ours:
                continue
            for action in stage.get("actionStates", []):
                latest = action.get("latestExecution") or {}
                token = latest.get("token")
                if latest.get("status") != "InProgress" or not token or token in decided:
                    continue
                decided.add(token)
                if execution not in digest_of:
                    digest_of[execution] = _digest_of(cp, manifest.pipeline, execution)
                approved = _decide(options, reporter, ours[execution], digest_of[execution], stage)
                verdict = "Approved" if approved else "Rejected"
                cp.put_approval_result(
                    pipelineName=manifest.pipeline,
                    stageName=stage["stageName"],
                    actionName=action["actionName"],
                    result={
                        "summary": f"{verdict.lower()} by pipelines rehearse",
                        "status": verdict,
                    },
                    token=token,
                )
        if not _running(cp, manifest.pipeline, ours):
            return
        time.sleep(POLL_SECONDS)


def _decide(
    options: RehearsalOptions,
    reporter: RehearsalReporter,
    number: int,
    digest: str,
    stage: dict[str, Any],
) -> bool:
    from pipelines.local.execution import short_digest

    if options.approve == "all":
        reporter.info(f"    approved (--approve all): execution #{number}")
        return True
    if options.approve == "none":
        reporter.info(f"    rejected (--approve none): execution #{number}")
        return False
    assert options.ask is not None
    question = (
        f"    approve {short_digest(digest)} into {stage['stageName']} (execution #{number})?"
    )
    return options.ask(question)


def _digest_of(cp: Any, pipeline: str, execution_id: str) -> str:
    answer = cp.get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=execution_id)
    revisions = answer["pipelineExecution"].get("artifactRevisions", [])
    return str(revisions[0]["revisionId"]) if revisions else ""


def _running(cp: Any, pipeline: str, ours: dict[str, int]) -> bool:
    listed = cp.list_pipeline_executions(pipelineName=pipeline, maxResults=100)
    return any(
        s["pipelineExecutionId"] in ours and s.get("status") in ("InProgress", "Stopping")
        for s in listed.get("pipelineExecutionSummaries", [])
    )


def _ended(cp: Any, pipeline: str, execution_id: str) -> _Ended:
    """The execution's status, and the stage it failed or stopped in: that of its newest
    action that failed or was abandoned; a failed manual approval is a rejection."""
    answer = cp.get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=execution_id)
    status = str(answer["pipelineExecution"]["status"])
    if status == "Succeeded":
        return _Ended(status, None)
    details = cp.list_action_executions(
        pipelineName=pipeline, filter={"pipelineExecutionId": execution_id}
    )["actionExecutionDetails"]
    stopped = [d for d in details if d.get("status") in ("Failed", "Abandoned")]
    if not stopped:
        return _Ended(status, None)
    newest = stopped[0]  # newest first
    category = newest.get("input", {}).get("actionTypeId", {}).get("category")
    rejected = category == "Approval" and newest.get("status") == "Failed"
    return _Ended("Rejected" if rejected else status, str(newest["stageName"]))


def _meant(
    declaration: dict[str, Any],
    environment_of: dict[str, str | None],
    last: _Ended,
    manifest: Any,
    stopped: bool = False,
) -> list[str]:
    """Environments meant to receive the last push: those whose stages all come before the
    stage where an approval of that execution was rejected (every one, if none was). With
    `stopped`, those whose stages come before the stage where it stopped for any reason."""
    names = [s["name"] for s in declaration["stages"]]
    stop = len(names)
    if last.status == "Rejected":
        stop = names.index(last.stopped_at)
    elif stopped and last.stopped_at:
        stop = names.index(last.stopped_at) + 1  # the stage it stopped in was reached
    last_stage: dict[str, int] = {}
    for index, stage in enumerate(declaration["stages"]):
        for action in stage["actions"]:
            stack = action.get("configuration", {}).get("StackName")
            env = environment_of.get(stack) if stack else None
            if env:
                last_stage[env] = index
    return [env for env in manifest.promotion if last_stage.get(env, -1) < stop]


def _others(clients: Any, manifest: Manifest, whole: Manifest | None) -> list[Live]:
    """What the services of the other images run (none with one image)."""
    if whole is None or not whole.images:
        return []
    ours = {e.name for e in manifest.stacks}
    return [item for item in read_back(clients, whole) if item.stack not in ours]


def read_back(clients: Any, manifest: Any) -> list[Live]:
    """Per environment and service: the digest in the stack's ImageUri and the digest of the
    image the ECS service's task definition names, as the embedded AWS has them now."""
    found = []
    for env in manifest.promotion:
        for entry in manifest.service_stacks(env):
            cfn = clients.client("cloudformation", entry.account, entry.region)
            [stack] = cfn.describe_stacks(StackName=entry.name)["Stacks"]
            parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
            outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
            ecs = clients.client("ecs", entry.account, entry.region)
            image = running_image(ecs, outputs["ClusterName"], outputs["ServiceName"])
            found.append(
                Live(
                    env,
                    entry.service or "",
                    entry.name,
                    _digest(parameters.get("ImageUri")),
                    _digest(image),
                )
            )
    return found


def deployed_tags(clients: Any, manifest: Any) -> dict[str, str]:
    """The repository's `deployed-` tags, each with the digest it names, as ECR has them now."""
    ecr = clients.client("ecr", manifest.toolchain_account, manifest.toolchain_region)
    found = {}
    for page in ecr.get_paginator("describe_images").paginate(repositoryName=manifest.repository):
        for image in page["imageDetails"]:
            for tag in image.get("imageTags", []):
                if tag.startswith(naming.DEPLOYED_TAG_PREFIX):
                    found[tag] = image["imageDigest"]
    return dict(sorted(found.items()))


def _digest(uri: str | None) -> str | None:
    return uri.rpartition("@")[2] if uri and "@" in uri else None


def every_meant_runs(live: list[Live], digest: str, meant: list[str]) -> bool:
    """Every service of every environment meant to receive `digest` runs it: the stack's
    ImageUri and the ECS service's task definition both."""
    return all(
        item.parameter == digest and item.running == digest
        for item in live
        if item.environment in meant
    )
