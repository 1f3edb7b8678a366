"""`pipelines sandbox`: the embedded AWS served on a local port, the app deployed on it, and its
pipeline answering CodePipeline's API, so that every verb can be practised with no account.

`open_sandbox` does what `pipelines rehearse` does before it pushes, and keeps it running:

1. synthesizes environments/ into the templates directory (the bytes `pipelines synth` writes);
2. serves moto, with CodePipeline in front of it (server.py), on 127.0.0.1;
3. creates the stand-ins the YAML says exist, deploys with `pipelines deploy`'s own function
   (the source stack, a bootstrap image, then every stack);
4. reads the deployed pipeline's declaration and hands it to the interpreter, which runs each
   execution in the background; an ECR push of the release tag starts one, as the pipeline's
   EventBridge rule would (service.py);
5. makes credentials of the toolchain account (an IAM user there, as a person would have), which
   `exports` prints as the shell lines that point boto3 and the CLI at the sandbox.

`pipelines rehearse` runs the same sandbox in its own process, on a free port, and drives it as
a client (rehearse.py). Nothing here prints: progress goes to the reporter.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pipelines.aws.errors import BadInput, OperationError
from pipelines.aws.progress import Reporter, Silent
from pipelines.local.rollout import Timing

if TYPE_CHECKING:
    from pipelines.aws.deploy import DeployResult
    from pipelines.aws.manifest import Manifest
    from pipelines.aws.session import Sessions
    from pipelines.config.models import Project
    from pipelines.local.interpreter import Interpreter
    from pipelines.local.runs import DirectRuns
    from pipelines.local.server import Server
    from pipelines.local.service import CodePipelineService, PipelineRouter

PIPELINE_TYPE = "AWS::CodePipeline::Pipeline"
BOOTSTRAP_TAG = "bootstrap"
SANDBOX_USER = "pipelines-sandbox"
DEFAULT_PORT = 4580


class SandboxReporter(Reporter, Protocol):
    def deployed(self, result: DeployResult) -> None:
        """One of the two runs of `pipelines deploy` ended so."""


class _Silent(Silent):
    def deployed(self, result: DeployResult) -> None:
        pass


SILENT: SandboxReporter = _Silent()


@dataclass(frozen=True)
class SandboxOptions:
    environments: Path
    templates: Path
    port: int = 0  # 0: a free port
    host: str = "127.0.0.1"
    # stack name -> why a deploy of it must fail (`rehearse --fail-at`), or None
    inject_failure: Callable[[str], str | None] | None = None
    # How long a configured minute (a bake, a canary or linear step) lasts here, in seconds.
    minute_seconds: float = Timing.bake_seconds_per_minute


@dataclass
class Sandbox:
    server: Server
    manifest: Manifest
    project: Project
    clients: Sessions
    interpreter: Interpreter  # the one pipeline's; with several images, the first image's
    service: CodePipelineService | PipelineRouter
    bootstrap: str  # the digest of the bootstrap image every service started on
    credentials: dict[str, str]  # of the toolchain account: AWS_ACCESS_KEY_ID, ...
    # Every pipeline's interpreter, by pipeline name (several with several images).
    interpreters: dict[str, Interpreter] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    def exports(self) -> list[str]:
        """The shell lines that point boto3 and the CLI at the sandbox, one per line."""
        region = self.manifest.toolchain_region
        return [
            "unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN",
            f"export AWS_ENDPOINT_URL={self.endpoint}",
            *(f"export {name}={value}" for name, value in self.credentials.items()),
            f"export AWS_REGION={region}",
            f"export AWS_DEFAULT_REGION={region}",
        ]


@contextlib.contextmanager
def open_sandbox(options: SandboxOptions, reporter: SandboxReporter = SILENT) -> Iterator[Sandbox]:
    """The sandbox, up and deployed, until the block ends; then the server stops and the
    process's environment is as it was."""
    from pipelines.aws.manifest import load_manifest
    from pipelines.config.loader import load_project
    from pipelines.local.embedded import embedded_aws
    from pipelines.local.server import Server
    from pipelines.render import write_atomically
    from pipelines.synth import synthesize

    require_moto()
    project = load_project(options.environments)
    write_atomically(options.templates, synthesize(options.environments).files)
    manifest = load_manifest(options.templates)
    server = Server(options.host, options.port)
    try:
        server.start()
    except OSError as error:
        raise BadInput(
            f"cannot serve on {options.host}:{options.port}: {error.strerror or error}; "
            "pass another --port"
        ) from None
    try:
        server.reset()
        with embedded_aws(manifest.toolchain_region, server.endpoint):
            sandbox = _deployed(server, manifest, project, options, reporter)
            server.application.service = sandbox.service
            server.application.runs = _direct_runs(sandbox)
            try:
                yield sandbox
            finally:
                server.application.service = server.application.runs = None
                for interpreter in sandbox.interpreters.values():
                    stop_executions(interpreter)
        server.reset()
    finally:
        server.stop()


def require_moto() -> None:
    try:
        import moto.server  # noqa: F401
    except ImportError:
        raise BadInput(
            "the embedded AWS needs moto with its server: pip install "
            "'ecs-release-pipelines[rehearse]' (in a checkout: pip install -e '.[rehearse]')"
        ) from None


def _deployed(
    server: Server,
    manifest: Manifest,
    project: Project,
    options: SandboxOptions,
    reporter: SandboxReporter,
) -> Sandbox:
    from pipelines.aws.session import Sessions
    from pipelines.local.execution import Hooks
    from pipelines.local.interpreter import Interpreter  # looked up now: tests replace it
    from pipelines.local.service import CodePipelineService, PipelineRouter

    clients = Sessions(region=manifest.toolchain_region)
    bootstrap = deploy_app(clients, manifest, project, options.environments, reporter)
    hooks = Hooks(None, options.inject_failure or _no_failure, reporter.info)
    interpreters = {}
    for view in pipeline_views(manifest):
        interpreters[view.pipeline] = Interpreter(
            clients,
            pipeline_declaration_of(clients, view),
            manifest.toolchain_account,
            manifest.toolchain_region,
            hooks,
            runners=runners_document(manifest.directory),
            marker_function=_marker_function(view),
            timing=Timing(bake_seconds_per_minute=options.minute_seconds),
        )
    services = [CodePipelineService(i) for i in interpreters.values()]
    service = services[0] if len(services) == 1 else PipelineRouter(services)
    credentials = toolchain_credentials(clients, manifest)
    first = services[0].interpreter
    return Sandbox(
        server, manifest, project, clients, first, service, bootstrap, credentials, interpreters
    )


def pipeline_views(manifest: Manifest) -> list[Manifest]:
    """The manifest as each pipeline sees it: itself for one image, else one per image."""
    return [manifest.for_image(name) for name in manifest.image_names] or [manifest]


def _direct_runs(sandbox: Sandbox) -> tuple[str, DirectRuns] | None:
    """`pipelines run`'s calls of the invoker, answered by the sandbox (runs.py)."""
    from pipelines import naming
    from pipelines.local.runs import DirectRuns

    document = runners_document(sandbox.manifest.directory)
    if document is None:
        return None
    clients = sandbox.interpreter.context.clients
    runs = DirectRuns(document, clients, sandbox.manifest.toolchain_region)
    return naming.invoker_function(sandbox.manifest.app), runs


def _no_failure(stack: str) -> str | None:
    return None


def _marker_function(manifest: Manifest) -> str:
    from pipelines import image_naming

    return image_naming.release_marker_function(manifest.app, manifest.image)


def deploy_app(
    clients: Sessions,
    manifest: Manifest,
    project: Project,
    environments: Path,
    reporter: SandboxReporter,
) -> str:
    """Stand-ins, then `pipelines deploy` of the source stack, a bootstrap image, and every
    stack; returns the bootstrap image's digest."""
    from pipelines.aws.deploy import DeployOptions, deploy
    from pipelines.local.embedded import create_alarm_standins, create_standins

    create_standins(clients, project)
    create_alarm_standins(clients, project)
    reporter.info("stand-ins created: VPCs, subnets, load balancers, clusters, alarms (state OK)")
    reporter.info(
        "moto's CloudFormation accepts the CodePipeline, S3 bucket policies, SNS "
        "subscriptions and CodeBuild projects without creating them: the pipeline is "
        "interpreted from its template"
    )
    templates = manifest.directory
    source = [e.name for e in manifest.of_kind("source")]
    reporter.info(f"\n== pipelines deploy --yes --stack {' '.join(source)}")
    sources = DeployOptions(templates, environments, stacks=tuple(source), yes=True)
    _checked(reporter, deploy(clients, sources, reporter))
    # The same generated image in every image's repository: one digest, so every service starts
    # on it and a rehearsal tells a release from the bootstrap by digest alone.
    views = pipeline_views(manifest)
    [bootstrap, *_] = [push_image(clients, view, "bootstrap", BOOTSTRAP_TAG) for view in views]
    bootstrap_uri = views[0].image_uri(bootstrap)
    reporter.info(f"pushed the bootstrap image {bootstrap_uri}")
    reporter.info(f"\n== pipelines deploy --yes --bootstrap-image {bootstrap_uri}")
    everything = DeployOptions(templates, environments, yes=True, bootstrap_image=bootstrap_uri)
    _checked(reporter, deploy(clients, everything, reporter))
    return bootstrap


def _checked(reporter: SandboxReporter, result: DeployResult) -> None:
    reporter.deployed(result)
    if not result.ok:
        raise OperationError("stopped: `pipelines deploy` failed (see above)")


def toolchain_credentials(clients: Sessions, manifest: Manifest) -> dict[str, str]:
    """An access key of an IAM user in the toolchain account: moto maps a request signed with it
    to that account, as AWS would, and the verbs assume roles in the other accounts with it."""
    iam = clients.client("iam", manifest.toolchain_account, manifest.toolchain_region)
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_user(UserName=SANDBOX_USER)
    key = iam.create_access_key(UserName=SANDBOX_USER)["AccessKey"]
    return {
        "AWS_ACCESS_KEY_ID": str(key["AccessKeyId"]),
        "AWS_SECRET_ACCESS_KEY": str(key["SecretAccessKey"]),
    }


def stop_executions(interpreter: Interpreter) -> None:
    """Stop what still runs, abandoning waiting approvals, so its threads end."""
    from pipelines.local.interpreter import NotAllowed

    for execution in list(interpreter.executions):
        if execution.status == "InProgress":
            with contextlib.suppress(NotAllowed):
                interpreter.stop(execution.id, abandon=True, reason="the sandbox stopped")
    interpreter.wait(timeout=30)


# Images -----------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class Pushed:
    repository: str
    tag: str
    digest: str
    release: bool  # pushed under the release tag: a release starts


def push_to_sandbox(templates: Path, tag: str | None = None, image: str | None = None) -> Pushed:
    """`pipelines sandbox push`: a new generated image in the sandbox's release repository,
    under the release tag (or `tag`), with the credentials and endpoint of the environment."""
    import os

    from pipelines.aws.manifest import load_manifest
    from pipelines.aws.session import Sessions

    if not os.environ.get("AWS_ENDPOINT_URL"):
        raise BadInput(
            "no sandbox to push to: paste the export lines `pipelines sandbox` printed (they "
            "set AWS_ENDPOINT_URL), or pass --endpoint-url"
        )
    # With several images, the repository of the one named (required, as for every verb).
    manifest = load_manifest(templates).for_image(image)
    clients = Sessions(region=manifest.toolchain_region)
    chosen = tag or manifest.release_tag
    digest = push_image(clients, manifest, f"push-{uuid.uuid4()}", chosen)
    return Pushed(manifest.repository, chosen, digest, chosen == manifest.release_tag)


# The pipeline -----------------------------------------------------------------------------------


def runners_document(templates: Path) -> Any:
    """The allow-list synth wrote (templates/runners.json), or None if the app has no runners."""
    from pipelines.invoker.document import load_document_file
    from pipelines.invoker.names import RUNNERS_FILE

    path = templates / RUNNERS_FILE
    return load_document_file(path) if path.exists() else None


def pipeline_declaration_of(clients: Any, manifest: Any) -> dict[str, Any]:
    """The pipeline as its stack declares it, resolved against what the stack created."""
    from pipelines.local.resolve import live_resolver, pipeline_declaration

    [entry] = manifest.of_kind("pipeline")
    template = json.loads(manifest.body(entry))
    pipelines = [r for r in template["Resources"].values() if r["Type"] == PIPELINE_TYPE]
    # With several images, the one named for this manifest's image (`for_image`).
    [resource] = [
        r for r in pipelines if len(pipelines) == 1 or r["Properties"]["Name"] == manifest.pipeline
    ]
    resolver = live_resolver(clients, entry.account, entry.region, entry.name, template)
    return pipeline_declaration(resolver.resolve(resource["Properties"]))
