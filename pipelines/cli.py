"""The `pipelines` command: thin wiring from verbs to functions."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from pipelines import __version__
from pipelines.errors import ConfigError, LimitError

ENVIRONMENTS = click.option(
    "--environments",
    "environments",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("environments"),
    show_default=True,
    help="Directory holding pipeline.yaml and one <environment>.yaml per environment.",
)


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
def synth(environments: Path, out: Path, quiet: bool) -> None:
    """Write a CloudFormation template per stack, and manifest.json, from environments/."""
    from pipelines.render import UnsafeOutputError, write_atomically
    from pipelines.summary import synth_summary
    from pipelines.synth import synthesize

    started = time.perf_counter()
    try:
        synthesis = synthesize(environments)
        write_atomically(out, synthesis.files)
    except (ConfigError, LimitError, UnsafeOutputError) as error:
        _fail(error)
    if not quiet:
        click.echo(synth_summary(synthesis, out, time.perf_counter() - started))


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


def _fail(error: Exception) -> None:
    for line in str(error).splitlines():
        click.echo(f"error: {line}", err=True)
    sys.exit(getattr(error, "exit_code", 1))
