"""`pipelines rehearse`: a whole release on an embedded AWS, with no account.

1. Synthesizes environments/ into a temporary directory (the same bytes `pipelines synth`
   writes), starts the embedded AWS and creates the stand-ins the YAML says exist.
2. Deploys with `pipelines deploy`'s own function and client type (`Sessions`): first the
   source stack, then a bootstrap image is pushed to its repository, then every stack with
   that image as `--bootstrap-image` and `--yes`.
3. Pushes N generated image manifests with the release tag, one execution each.
4. Interprets the deployed pipeline's declaration (interpreter.py) over those executions;
   runner steps are admitted against the runners.json synth wrote (steps.py), and the release
   marker's own handler tags what each environment runs.
5. Reads back, per environment and service, the ImageUri parameter of the stack and the image
   of the ECS service's task definition, and compares them with what was meant to arrive; and
   the repository's `deployed-` tags the release marker moved.

It prints nothing: it reports progress to a `RehearsalReporter` and returns a `Result`, which the
command line renders (pipelines/console.py).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pipelines import naming
from pipelines.aws.ecs import running_image
from pipelines.aws.errors import FAILED, OK, BadInput, OperationError
from pipelines.aws.progress import Reporter, Silent

if TYPE_CHECKING:
    from pipelines.aws.deploy import DeployResult

APPROVE_CHOICES = ("all", "none", "ask")
PIPELINE_TYPE = "AWS::CodePipeline::Pipeline"
BOOTSTRAP_TAG = "bootstrap"


@dataclass(frozen=True)
class RehearsalOptions:
    environments: Path
    approve: str = "all"
    fail_at: str | None = None
    push: int = 1
    endpoint_url: str | None = None
    ask: Callable[[str], bool] | None = None  # for --approve ask: the question, yes or no


class RehearsalReporter(Reporter, Protocol):
    def deployed(self, result: DeployResult) -> None:
        """One of the rehearsal's two runs of `pipelines deploy` ended so."""


class _Silent(Silent):
    def deployed(self, result: DeployResult) -> None:
        pass


SILENT: RehearsalReporter = _Silent()


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


def rehearse(options: RehearsalOptions, reporter: RehearsalReporter = SILENT) -> Result:
    """Run the rehearsal; reports as it goes and returns what happened."""
    from pipelines.aws.manifest import load_manifest
    from pipelines.config.loader import load_project
    from pipelines.local.embedded import embedded_aws
    from pipelines.render import write_atomically
    from pipelines.synth import synthesize

    try:
        import moto  # noqa: F401
    except ImportError:
        raise BadInput(
            "pipelines rehearse needs moto, the embedded AWS: pip install -e '.[rehearse]' "
            "in a checkout, or pip install 'moto[server]'"
        ) from None
    if options.approve not in APPROVE_CHOICES:
        raise BadInput(f"--approve must be one of {', '.join(APPROVE_CHOICES)}")
    if options.approve == "ask" and options.ask is None:
        raise BadInput("--approve ask needs a way to ask: RehearsalOptions.ask")
    if options.push < 1:
        raise BadInput("--push must be at least 1")
    started = time.monotonic()
    project = load_project(options.environments)
    promotion = [e.name for e in project.environments]
    if options.fail_at and options.fail_at not in promotion:
        raise BadInput(
            f"--fail-at {options.fail_at}: no such environment (promotion: {', '.join(promotion)})"
        )
    with tempfile.TemporaryDirectory(prefix="pipelines-rehearse-") as tmp:
        templates = Path(tmp) / "templates"
        write_atomically(templates, synthesize(options.environments).files)
        manifest = load_manifest(templates)
        where = options.endpoint_url or "moto in this process"
        reporter.info(
            f"rehearsing {manifest.pipeline} on an embedded AWS ({where}), no account used"
        )
        with embedded_aws(manifest.toolchain_region, options.endpoint_url):
            return _rehearse(options, manifest, project, templates, started, reporter)


def _rehearse(
    options: RehearsalOptions,
    manifest: Any,
    project: Any,
    templates: Path,
    started: float,
    reporter: RehearsalReporter,
) -> Result:
    from pipelines.aws.deploy import DeployOptions, deploy
    from pipelines.aws.session import Sessions
    from pipelines.local.embedded import create_alarm_standins, create_standins
    from pipelines.local.interpreter import Execution, Hooks, Interpreter

    clients = Sessions(region=manifest.toolchain_region)
    create_standins(clients, project)
    create_alarm_standins(clients, project)
    reporter.info("stand-ins created: VPCs, subnets, load balancers, clusters, alarms (state OK)")
    reporter.info(
        "moto's CloudFormation accepts the CodePipeline, S3 bucket policies, SNS "
        "subscriptions and CodeBuild projects without creating them: the pipeline is "
        "interpreted from its template"
    )

    source = [e.name for e in manifest.of_kind("source")]
    reporter.info(f"\n== pipelines deploy --yes --stack {' '.join(source)}")
    sources = DeployOptions(templates, options.environments, stacks=tuple(source), yes=True)
    _deployed(reporter, deploy(clients, sources, reporter))
    bootstrap = push_image(clients, manifest, "bootstrap", BOOTSTRAP_TAG)
    bootstrap_uri = manifest.image_uri(bootstrap)
    reporter.info(f"pushed the bootstrap image {bootstrap_uri}")
    reporter.info(f"\n== pipelines deploy --yes --bootstrap-image {bootstrap_uri}")
    everything = DeployOptions(
        templates, options.environments, yes=True, bootstrap_image=bootstrap_uri
    )
    _deployed(reporter, deploy(clients, everything, reporter))

    declaration = pipeline_declaration_of(clients, manifest)
    environment_of = {e.name: e.environment for e in manifest.stacks}
    fail_stacks = {e.name for e in manifest.of_kind("service") if e.environment == options.fail_at}

    def approve(execution: Execution, stage: str, action: str, message: str) -> bool:
        if options.approve == "all":
            reporter.info(f"    approved (--approve all): execution #{execution.number}")
            return True
        if options.approve == "none":
            reporter.info(f"    rejected (--approve none): execution #{execution.number}")
            return False
        assert options.ask is not None
        question = f"    approve {execution.short} into {stage} (execution #{execution.number})?"
        return options.ask(question)

    def inject(stack: str) -> str | None:
        return f"--fail-at {options.fail_at}" if stack in fail_stacks else None

    hooks = Hooks(approve, inject, reporter.info)
    interpreter = Interpreter(
        clients,
        declaration,
        manifest.toolchain_account,
        manifest.toolchain_region,
        hooks,
        runners=runners_document(templates),
        marker_function=naming.release_marker_function(manifest.app),
    )

    reporter.info(
        f"\n== pushing {options.push} image(s) to {manifest.repository}:{manifest.release_tag}"
    )
    executions = []
    for number in range(1, options.push + 1):
        digest = push_image(
            clients, manifest, f"release-{number}-{uuid.uuid4()}", manifest.release_tag
        )
        reporter.info(f"push {number}: {manifest.repository}@{digest} starts execution #{number}")
        executions.append(Execution(number, str(uuid.uuid4()), digest))
    reporter.info(f"\n== running {declaration['name']} (execution mode QUEUED)")
    interpreter.run(executions)

    last = executions[-1]
    meant = _meant(declaration, environment_of, last, manifest)
    reached = _meant(declaration, environment_of, last, manifest, stopped=True)
    live = read_back(clients, manifest)
    tags = deployed_tags(clients, manifest)
    seconds = time.monotonic() - started
    untouched = frozenset(meant) - set(reached)
    ok = every_meant_runs(live, last.digest, meant)
    return Result(
        OK if ok else FAILED,
        [e.digest for e in executions],
        bootstrap,
        meant,
        live,
        list(interpreter.events),
        seconds,
        tags,
        untouched,
    )


def runners_document(templates: Path) -> Any:
    """The allow-list synth wrote (templates/runners.json), or None if the app has no runners."""
    from pipelines.invoker.document import load_document_file
    from pipelines.invoker.names import RUNNERS_FILE

    path = templates / RUNNERS_FILE
    return load_document_file(path) if path.exists() else None


def _deployed(reporter: RehearsalReporter, result: DeployResult) -> None:
    reporter.deployed(result)
    if not result.ok:
        raise OperationError("the rehearsal stops: `pipelines deploy` failed (see above)")


def generated_image(seed: str) -> str:
    """A small image manifest; each seed gives different layer digests, so a distinct image."""

    def blob(what: str) -> str:
        return "sha256:" + hashlib.sha256(f"{seed}/{what}".encode()).hexdigest()

    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 1469,
                "digest": blob("config"),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 2811478,
                    "digest": blob("layer"),
                }
            ],
        }
    )


def push_image(clients: Any, manifest: Any, seed: str, tag: str) -> str:
    """Put a generated image in the release repository under `tag`; returns its digest."""
    ecr = clients.client("ecr", manifest.toolchain_account, manifest.toolchain_region)
    text = generated_image(seed)
    # First under a tag of its own, as a CI would push a build: moto drops an image whose last
    # tag moves to another (ECR keeps it untagged), and the earlier execution still needs it.
    ecr.put_image(repositoryName=manifest.repository, imageManifest=text, imageTag=f"build-{seed}")
    pushed = ecr.put_image(repositoryName=manifest.repository, imageManifest=text, imageTag=tag)
    return str(pushed["image"]["imageId"]["imageDigest"])


def pipeline_declaration_of(clients: Any, manifest: Any) -> dict[str, Any]:
    """The pipeline as its stack declares it, resolved against what the stack created."""
    from pipelines.local.resolve import live_resolver, pipeline_declaration

    [entry] = manifest.of_kind("pipeline")
    template = json.loads(manifest.body(entry))
    [(_logical, resource)] = [
        (k, r) for k, r in template["Resources"].items() if r["Type"] == PIPELINE_TYPE
    ]
    resolver = live_resolver(clients, entry.account, entry.region, entry.name, template)
    return pipeline_declaration(resolver.resolve(resource["Properties"]))


def _meant(
    declaration: dict[str, Any],
    environment_of: dict[str, str | None],
    last: Any,
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
