"""The `pipelines` command: thin wiring from verbs to functions."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

# pipelines uses no pydantic plugins; looking them up scans the metadata of every installed
# package when the config models are built, a tenth of `pipelines synth`'s start-up.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from pipelines import __version__, process
from pipelines.errors import ConfigError, LimitError

ENVIRONMENTS = click.option(
    "--environments",
    "environments",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("environments"),
    show_default=True,
    help="Directory holding pipeline.yaml and one <environment>.yaml per environment.",
)


ENDPOINT_META = "pipelines.endpoint_url"


def _keep_endpoint(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.meta[ENDPOINT_META] = value


ENDPOINT_URL = click.option(
    "--endpoint-url",
    metavar="URL",
    expose_value=False,
    callback=_keep_endpoint,
    help="Send every AWS call to URL, e.g. a `pipelines sandbox` (default: $AWS_ENDPOINT_URL).",
)


@contextlib.contextmanager
def _endpoint(url: str | None) -> Iterator[None]:
    """AWS calls go to `url` meanwhile: boto3 reads AWS_ENDPOINT_URL itself, for every client
    and every account's session, so the verbs need no endpoint of their own."""
    if not url:
        yield
        return
    saved = os.environ.get("AWS_ENDPOINT_URL")
    os.environ["AWS_ENDPOINT_URL"] = url
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("AWS_ENDPOINT_URL", None)
        else:
            os.environ["AWS_ENDPOINT_URL"] = saved


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pipelines")
def main() -> None:
    """Release containers to Amazon ECS across environments and accounts."""


@main.command()
@ENVIRONMENTS
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("templates"),
    show_default=True,
    help="Directory to write the templates and manifest.json into (replaced as a whole).",
)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing on success.")
@click.option(
    "--cost", is_flag=True, help="Also print what is billed monthly per environment (counts)."
)
def synth(environments: Path, out: Path, quiet: bool, cost: bool) -> None:
    """Write a CloudFormation template per stack, and manifest.json, from environments/."""
    with process.batch():
        from pipelines.render import UnsafeOutputError, write_atomically
        from pipelines.synth import synthesize

        started = time.perf_counter()
        try:
            synthesis = synthesize(environments)
            write_atomically(out, synthesis.files)
        except (ConfigError, LimitError, UnsafeOutputError) as error:
            _fail(error)
        if not quiet:
            from pipelines.summary import lead_time_summary, synth_summary

            click.echo(synth_summary(synthesis, out, time.perf_counter() - started))
            click.echo(lead_time_summary(synthesis.project))
        if cost:
            from pipelines.cost import cost_lines, fixed_cost

            click.echo("\n".join(cost_lines(fixed_cost(synthesis.manifest, synthesis.files))))


@main.command()
@click.argument("kind", type=click.Choice(["pipeline", "environment"]), default="pipeline")
def schema(kind: str) -> None:
    """Print the JSON Schema of pipeline.yaml or of an environment file."""
    import json

    from pipelines.config.schema import json_schema

    click.echo(json.dumps(json_schema(kind), indent=2, sort_keys=True))


@main.command()
@click.option(
    "--templates",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("templates"),
    show_default=True,
    help="Directory synth wrote: every template its manifest.json lists is checked.",
)
def check(templates: Path) -> None:
    """Lint the synthesized templates with cfn-lint.

    One process per core. Exit status 1 on any error or warning, 2 when nothing can be checked.
    """
    from pipelines.check import CheckError
    from pipelines.check import check as run_check

    try:
        report = run_check(templates)
    except CheckError as error:
        _fail(error)
    for finding in report.findings:
        click.echo(str(finding))
    click.echo(report.summary())
    sys.exit(report.exit_code)


@main.command(
    context_settings={"ignore_unknown_options": True, "help_option_names": ["--help"]},
)
@click.argument("runner", required=False)
@click.argument("script", required=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--env", "environment", help="Environment the job targets (PIPELINES_ENVIRONMENT).")
@click.option("--cpu", type=int, help="Fargate CPU units, up to the runner's maximum.")
@click.option("--memory", type=int, help="MiB, up to the runner's maximum.")
@click.option("--max-wait", help="Give up and stop the task after this long: 90m, 2h, 30s.")
@click.option("--no-wait", is_flag=True, help="Print the task and return once it started.")
@click.option(
    "--image",
    metavar="URI@sha256:DIGEST",
    help="For a runner whose image is `release`: the app's image to run, by digest (with "
    "several images, from any of their repositories).",
)
@click.option("--describe", is_flag=True, help="List the runners, their scripts and options.")
@click.option(
    "--runners",
    "runners_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("templates/runners.json"),
    show_default=True,
    help="The runners document synth writes.",
)
@ENDPOINT_URL
def run(
    runner: str | None,
    script: str | None,
    args: tuple[str, ...],
    environment: str | None,
    cpu: int | None,
    memory: int | None,
    max_wait: str | None,
    no_wait: bool,
    image: str | None,
    describe: bool,
    runners_file: Path,
) -> None:
    """Run an allow-listed job in the deploy runner and stream its logs.

    Options of this command may come anywhere; put the script's own arguments after `--` if
    they share a name with one of them. The exit status is the job's.
    """
    from pipelines.console import run_command

    with _endpoint(click.get_current_context().meta.get(ENDPOINT_META)):
        status = run_command(
            runner=runner,
            script=script,
            args=args,
            environment=environment,
            cpu=cpu,
            memory=memory,
            max_wait=max_wait,
            no_wait=no_wait,
            describe_only=describe,
            runners_file=runners_file,
            image=image,
        )
    sys.exit(status)


def stdin_is_terminal() -> bool:
    """Whether a question can be asked: standard input is a terminal."""
    return sys.stdin.isatty()


def _fail(error: Exception) -> None:
    for line in str(error).splitlines():
        click.echo(f"error: {line}", err=True)
    sys.exit(getattr(error, "exit_code", 1))


# Verbs that talk to AWS. Each imports its implementation, and with it boto3, only when it runs,
# so `pipelines synth` never loads boto3. The implementations live in pipelines/aws/ and return
# results; pipelines/console.py shows their progress and results, and asks their questions.

TEMPLATES = click.option(
    "--templates",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("templates"),
    show_default=True,
    help="Directory synth wrote: manifest.json and the templates.",
)
PROFILE = click.option("--profile", help="AWS profile (default: the standard credential chain).")
REGION = click.option(
    "--region", help="Region for STS; each stack is deployed where the manifest says."
)
ROLE_NAME = click.option(
    "--role-name",
    metavar="NAME",
    help="Role assumed in accounts other than the caller's "
    "(default: $PIPELINES_ROLE_NAME, else OrganizationAccountAccessRole).",
)


def _aws_options(function: Callable[..., None]) -> Callable[..., None]:
    for option in (ENDPOINT_URL, ROLE_NAME, REGION, PROFILE, TEMPLATES):
        function = option(function)
    return function


def _aws(
    verb: Callable[[Any], int],
    profile: str | None,
    region: str | None,
    role_name: str | None,
) -> None:
    """Run `verb` with the clients of these credentials; it returns the exit status."""
    from pipelines.aws.session import Sessions
    from pipelines.console import run_verb

    with _endpoint(click.get_current_context().meta.get(ENDPOINT_META)):
        run_verb(lambda: verb(Sessions(profile, region, role_name)))


def _asking(yes: bool) -> Callable[[str], bool] | None:
    """Who confirms: the person at the terminal, or no one (the verb then needs --yes)."""
    from pipelines.console import confirm

    return None if yes or not sys.stdin.isatty() else confirm


def _stack_filters(function: Callable[..., None]) -> Callable[..., None]:
    """--env and --stack: the stacks deploy and diff work on."""
    function = click.option(
        "--stack", "stacks", multiple=True, metavar="NAME", help="Only this stack (repeatable)."
    )(function)
    return click.option(
        "--env", "envs", multiple=True, metavar="ENV", help="Only ENV's stacks (repeatable)."
    )(function)


@main.command()
@_aws_options
@ENVIRONMENTS
@_stack_filters
@click.option("--yes", "-y", is_flag=True, help="Execute the change sets without asking.")
@click.option(
    "--bootstrap-image",
    metavar="URI@sha256:DIGEST",
    help="First image of a service stack that does not exist yet (default: image.bootstrap).",
)
@click.option(
    "--prune",
    is_flag=True,
    help="Then delete the app's stacks the manifest no longer names (listed first).",
)
def deploy(
    templates: Path,
    profile: str | None,
    region: str | None,
    role_name: str | None,
    environments: Path,
    envs: tuple[str, ...],
    stacks: tuple[str, ...],
    yes: bool,
    bootstrap_image: str | None,
    prune: bool,
) -> None:
    """Deploy the stacks in templates/ with change sets, wave by wave.

    Shows each change set and asks before executing it. Stacks of one wave run at once; a
    failure stops before the next wave (exit status 1). A service stack keeps its live
    ImageUri. Uploads templates.zip for the pipeline. With --prune, then deletes the app's
    stacks the manifest no longer names (a removed service or environment), listed before
    the first wave and asked about again.

    \b
    Examples:
      pipelines deploy --profile toolchain-admin
      pipelines deploy --env prod --yes
      pipelines deploy --bootstrap-image public.ecr.aws/nginx/nginx@sha256:<digest>
      pipelines deploy --prune
    """
    from pipelines.aws.deploy import DeployOptions
    from pipelines.aws.deploy import deploy as run
    from pipelines.console import ConsoleReporter, show_deploy

    options = DeployOptions(templates, environments, envs, stacks, yes, bootstrap_image, prune)
    _aws(
        lambda clients: show_deploy(run(clients, options, ConsoleReporter(), _asking(yes))),
        profile,
        region,
        role_name,
    )


@main.command()
@_aws_options
@ENVIRONMENTS
@_stack_filters
def diff(
    templates: Path,
    profile: str | None,
    region: str | None,
    role_name: str | None,
    environments: Path,
    envs: tuple[str, ...],
    stacks: tuple[str, ...],
) -> None:
    """Show what deploy would change; execute nothing. Exit status 0: no changes, 1: changes.

    Without --env/--stack, also lists the app's stacks the manifest no longer names, which
    `pipelines deploy --prune` deletes.

    \b
    Example:
      pipelines diff --env prod || echo "prod would change"
    """
    from pipelines.aws.diff import DiffOptions
    from pipelines.aws.diff import diff as run
    from pipelines.console import ConsoleReporter, show_diff

    options = DiffOptions(templates, environments, envs, stacks)
    _aws(
        lambda clients: show_diff(run(clients, options, ConsoleReporter())),
        profile,
        region,
        role_name,
    )


@main.command()
@_aws_options
@click.option("--env", metavar="ENV", help="Only ENV's stacks (its services, runner, deploy).")
@click.option("--yes", "-y", is_flag=True, help="Delete without asking.")
@click.option(
    "--include-retained",
    is_flag=True,
    help="Also delete the repository with its images and schedule the retained keys' deletion.",
)
def destroy(
    templates: Path,
    profile: str | None,
    region: str | None,
    role_name: str | None,
    env: str | None,
    yes: bool,
    include_retained: bool,
) -> None:
    """Delete the app's stacks (or ENV's) in reverse deploy order.

    Lists what it deletes and what stays behind (DeletionPolicy Retain) and asks first; without
    a terminal it lists and refuses unless --yes. Empties the artifact buckets (every version)
    first. A failure stops before anything later (exit status 1).

    \b
    Examples:
      pipelines destroy --env dev
      pipelines destroy --yes --include-retained
    """
    from pipelines.aws.destroy import DestroyOptions
    from pipelines.aws.destroy import destroy as run
    from pipelines.console import ConsoleReporter, show_destroy

    options = DestroyOptions(templates, env, yes, include_retained)
    _aws(
        lambda clients: show_destroy(run(clients, options, ConsoleReporter(), _asking(yes))),
        profile,
        region,
        role_name,
    )


_IMAGE = click.option(
    "--image",
    "image",
    metavar="NAME",
    help="With several images (`images` in pipeline.yaml): the image whose pipeline to act on.",
)


@main.command()
@_aws_options
@click.option("--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option(
    "--image",
    "image",
    metavar="NAME",
    help="With several images: only this image's pipeline (default: every image's).",
)
def status(
    templates: Path,
    profile: str | None,
    region: str | None,
    role_name: str | None,
    output: str,
    image: str | None,
) -> None:
    """Per environment: the live digest, drift, who deployed it, and pending approvals.

    \b
    Example:
      pipelines status --output json | jq '.environments[].pending_approval'
    """
    from pipelines.aws.status import StatusOptions
    from pipelines.aws.status import statuses as run
    from pipelines.console import show_status

    options = StatusOptions(templates, image)
    _aws(lambda clients: show_status(run(clients, options), output), profile, region, role_name)


def _decision(approve: bool) -> Callable[..., None]:
    verb = "approve" if approve else "reject"

    @_aws_options
    @click.argument("env")
    @click.option(
        "--digest",
        required=True,
        metavar="sha256:HEX",
        help="The digest the pending approval must promote (or a unique 12+ hex prefix).",
    )
    @click.option("--comment", help="Summary recorded with the approval.")
    @_IMAGE
    def command(
        templates: Path,
        profile: str | None,
        region: str | None,
        role_name: str | None,
        env: str,
        digest: str,
        comment: str | None,
        image: str | None,
    ) -> None:
        from pipelines.aws.approve import ApprovalOptions, decide
        from pipelines.console import show_decision

        options = ApprovalOptions(templates, env, digest, comment, approve, image)
        _aws(lambda clients: show_decision(decide(clients, options)), profile, region, role_name)

    command.__doc__ = (
        f"{verb.capitalize()} ENV's pending approval, only if it promotes --digest.\n\n"
        "Refuses with exit status 3 if nothing is pending in ENV or if the pending execution "
        "carries another digest.\n\n"
        "\b\nExample:\n"
        f"  pipelines {verb} prod --digest sha256:0123456789ab --comment 'checked in staging'"
    )
    return command


main.command("approve")(_decision(True))
main.command("reject")(_decision(False))


@main.command()
@_aws_options
@click.option(
    "--digest", required=True, metavar="sha256:HEX", help="An image already in the repository."
)
@_IMAGE
def release(
    templates: Path,
    profile: str | None,
    region: str | None,
    role_name: str | None,
    digest: str,
    image: str | None,
) -> None:
    """Start the pipeline for an image already in ECR, by digest.

    \b
    Example:
      pipelines release --digest sha256:0123456789ab
    """
    from pipelines.aws.release import ReleaseOptions
    from pipelines.aws.release import release as run
    from pipelines.console import show_release

    options = ReleaseOptions(templates, digest, image)
    _aws(lambda clients: show_release(run(clients, options)), profile, region, role_name)


@main.command()
@_aws_options
@click.argument("env")
@click.option("--to", metavar="sha256:HEX", help="Image to return to (default: the previous one).")
@click.option("--yes", "-y", is_flag=True, help="Roll back without asking.")
@_IMAGE
def rollback(
    templates: Path,
    profile: str | None,
    region: str | None,
    role_name: str | None,
    env: str,
    to: str | None,
    yes: bool,
    image: str | None,
) -> None:
    """Put ENV's services back on the previous (or --to) image now, through CloudFormation.

    For emergencies: the pipeline is not involved, and its next release to ENV replaces
    the image again.

    \b
    Examples:
      pipelines rollback prod
      pipelines rollback prod --to sha256:0123456789ab --yes
    """
    from pipelines.aws.rollback import RollbackOptions
    from pipelines.aws.rollback import rollback as run
    from pipelines.console import ConsoleReporter, show_rollback

    options = RollbackOptions(templates, env, to, yes, image)
    _aws(
        lambda clients: show_rollback(run(clients, options, ConsoleReporter(), _asking(yes))),
        profile,
        region,
        role_name,
    )


@main.command()
@ENVIRONMENTS
@click.option(
    "--approve",
    type=click.Choice(["all", "none", "ask"]),
    default="ask",
    show_default=True,
    help="Decide every manual approval: approve all, reject all, or ask on the terminal.",
)
@click.option("--fail-at", metavar="ENV", help="Inject a failure into ENV's deployment.")
@click.option(
    "--push",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Images pushed in a row.",
)
@click.option(
    "--endpoint-url",
    metavar="URL",
    help="A running `pipelines sandbox` of these environments instead of one in-process.",
)
@click.option(
    "--image",
    "image",
    metavar="NAME",
    help="With several images (`images` in pipeline.yaml): the image whose release to rehearse.",
)
def rehearse(
    environments: Path,
    approve: str,
    fail_at: str | None,
    push: int,
    endpoint_url: str | None,
    image: str | None,
) -> None:
    """Rehearse a release on an embedded AWS (moto): no account, no credentials.

    Deploys the synthesized stacks as `pipelines deploy` would, pushes images with the release
    tag, runs the pipeline's own declaration stage by stage, then prints the digest each
    service runs. Exit status 0 only if every environment meant to get the last push has it.

    \b
    Examples:
      pipelines rehearse --approve all
      pipelines rehearse --approve all --push 2
      pipelines rehearse --approve all --fail-at staging
    """
    from pipelines.console import ConsoleReporter, confirm, run_verb, show_rehearsal
    from pipelines.local.rehearse import RehearsalOptions
    from pipelines.local.rehearse import rehearse as run

    # --approve ask asks on the terminal; without one, rehearse refuses before it starts.
    ask = confirm if approve == "ask" and stdin_is_terminal() else None
    options = RehearsalOptions(environments, approve, fail_at, push, endpoint_url, ask, image)
    try:
        run_verb(lambda: show_rehearsal(run(options, ConsoleReporter()), fail_at))
    except (ConfigError, LimitError) as error:
        _fail(error)


@main.group(invoke_without_command=True)
@ENVIRONMENTS
@click.option(
    "--templates",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("templates"),
    show_default=True,
    help="Directory to synthesize into (replaced as a whole); the verbs read it.",
)
@click.option(
    "--port",
    type=click.IntRange(min=0, max=65535),
    default=4580,
    show_default=True,
    help="Local port to serve on (0: any free port).",
)
@click.option(
    "--minute",
    "minute_seconds",
    type=click.FloatRange(min=0.01, max=60),
    default=0.1,
    show_default=True,
    metavar="SECONDS",
    help="How long a configured minute lasts here: bakes, canary and linear steps (a 15-minute "
    "canary bake takes 1.5 s by default; --minute 1 leaves time to watch it with `status`).",
)
@click.pass_context
def sandbox(
    ctx: click.Context, environments: Path, templates: Path, port: int, minute_seconds: float
) -> None:
    """Serve a local AWS with the app deployed and its pipeline running: no account.

    Synthesizes into --templates, deploys every stack on an embedded AWS (moto) served on
    127.0.0.1, and prints the `export` lines that point boto3 and this CLI at it. Then every
    verb works against it as against AWS: `pipelines sandbox push` starts a release, and
    status, approve, reject, release, rollback, deploy, diff and run act on it. Serves until
    interrupted (Ctrl-C, SIGTERM).

    \b
    Example:
      pipelines sandbox                     # in one shell; paste its exports into another
      pipelines sandbox push
      pipelines status
    """
    if ctx.invoked_subcommand is not None:
        return
    from pipelines.console import run_sandbox, run_verb
    from pipelines.local.sandbox import SandboxOptions

    options = SandboxOptions(environments, templates, port, minute_seconds=minute_seconds)
    try:
        run_verb(lambda: run_sandbox(options))
    except (ConfigError, LimitError) as error:
        _fail(error)


@sandbox.command("push")
@TEMPLATES
@click.option("--tag", help="Tag to push under (default: the release tag of manifest.json).")
@click.option("--endpoint-url", metavar="URL", help="The sandbox (default: $AWS_ENDPOINT_URL).")
@_IMAGE
def sandbox_push(
    templates: Path, tag: str | None, endpoint_url: str | None, image: str | None
) -> None:
    """Push a generated image to the sandbox's release repository; prints its digest.

    With the release tag, the push starts a release, as on AWS.
    """
    from pipelines.console import run_verb, show_push
    from pipelines.local.sandbox import push_to_sandbox

    with _endpoint(endpoint_url):
        run_verb(lambda: show_push(push_to_sandbox(templates, tag, image)))


@main.command()
@ENVIRONMENTS
@click.option("--app", help="App name, the prefix of every stack.")
@click.option("--toolchain-account", metavar="ID", help="Account of the repository and pipeline.")
@click.option("--toolchain-region", metavar="REGION", help="Region of the repository and pipeline.")
@click.option("--promotion", metavar="ENV,ENV", help="Environments in order (dev,staging,prod).")
@click.option(
    "--account", "accounts", multiple=True, metavar="ENV=ID", help="An environment's account."
)
@click.option(
    "--env-region", "regions", multiple=True, metavar="ENV=REGION", help="An environment's region."
)
@click.option("--vpc", "vpcs", multiple=True, metavar="[ENV=]VPC", help="VPC of one or all envs.")
@click.option(
    "--subnets", multiple=True, metavar="[ENV=]SUBNET,…", help="Subnets of one or all envs."
)
@click.option("--service", help="Name of the one service (web).")
@click.option("--port", type=int, help="Its container port (8080).")
@click.option("--repository", help="ECR repository (<app>-<service>).")
@click.option("--bootstrap-image", metavar="URI@sha256:DIGEST", help="First image of a service.")
def init(
    environments: Path,
    app: str | None,
    toolchain_account: str | None,
    toolchain_region: str | None,
    promotion: str | None,
    accounts: tuple[str, ...],
    regions: tuple[str, ...],
    vpcs: tuple[str, ...],
    subnets: tuple[str, ...],
    service: str | None,
    port: int | None,
    repository: str | None,
    bootstrap_image: str | None,
) -> None:
    """Write a starter environments/ that synthesizes, from flags or by asking; never overwrites.

    \b
    Example:
      pipelines init --app shop --toolchain-account 111111111111 --toolchain-region eu-west-1 \\
        --promotion dev,prod --account prod=333333333333 \\
        --vpc vpc-0123456789abcdef0 --subnets subnet-0123456789abcdef0,subnet-0123456789abcdef1
    """
    from pipelines.init import InitError, InitOptions
    from pipelines.init import init as run

    options = InitOptions(
        environments,
        app,
        toolchain_account,
        toolchain_region,
        promotion,
        accounts,
        regions,
        vpcs,
        subnets,
        service,
        port,
        repository,
        bootstrap_image,
    )
    ask = (lambda q, d: click.prompt(q, default=d)) if sys.stdin.isatty() else None
    try:
        written = run(options, ask)
    except InitError as error:
        _fail(error)
    click.echo(f"wrote {len(written)} files to {environments}/; next: pipelines synth")
