"""Job entrypoints, run inside the runner containers: `python -m pipelines.jobs ...`.

    cloudformation plan  --stack S --template FILE [--parameter K=V]... [--change-set NAME]
                         [--role-arn ARN]
    cloudformation apply --stack S --change-set NAME|ID
    terraform plan  --dir D --out PLAN [--var-file F] [--store s3://bucket/prefix]
    terraform apply --dir D --plan PLAN --plan-sha256 HEX [--store s3://bucket/prefix]
    build --context CTX --destination IMAGE... [--dockerfile F] [--build-arg K=V]...
          [--engine kaniko|docker] [--dry-run]

FILE, D and CTX may be `Artifact::path`: a path inside the CodePipeline input artifact of that
name, whose S3 location the invoker passes in PIPELINES_ARTIFACTS (artifacts.py). A job hands
values to CodePipeline by printing `::pipelines-output:: NAME=VALUE` (outputs.py); the invoker
turns the last such line per name into an output variable of the action.

This module is the command line only; each job is a module of its own: cloudformation.py,
terraform.py, build.py. Exit status: 0 done, 1 failed, 2 usage, 3 refused (a terraform plan
whose SHA-256 is not the approved one). External tools run from an argv list, never through a
shell.

`_client`, `_download` and `POLL_SECONDS` are the seams the rehearsal swaps
(pipelines/local/steps.py): every job gets its AWS clients, its artifact links and its delay
between reads through them.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from pipelines.aws.cloudformation import Change
from pipelines.aws.errors import OperationError, explain
from pipelines.jobs import artifacts
from pipelines.jobs.build import build
from pipelines.jobs.cloudformation import (
    DEFAULT_CHANGE_SET,
    cloudformation_apply,
    cloudformation_plan,
    plan_summary,
)
from pipelines.jobs.errors import EXIT_FAILED, EXIT_REFUSED, JobError
from pipelines.jobs.terraform import terraform_apply, terraform_plan

# Imported from here by other code: keep them here.
__all__ = [
    "EXIT_FAILED",
    "EXIT_REFUSED",
    "Change",
    "JobError",
    "main",
    "parser",
    "plan_summary",
]

POLL_SECONDS = float(os.environ.get("PIPELINES_POLL_SECONDS", "5"))
_client = artifacts.client
_download = artifacts.download


def _sha256(value: str) -> str:
    if not re.fullmatch(r"[0-9a-fA-F]{64}", value):
        raise argparse.ArgumentTypeError("not a SHA-256 (64 hex digits)")
    return value.lower()


def parser() -> argparse.ArgumentParser:
    # allow_abbrev=False everywhere: `--chan` must not quietly mean `--change-set`, or an
    # allow-list that admits one option name would admit others by prefix.
    top = argparse.ArgumentParser(prog="pipelines.jobs", allow_abbrev=False)
    tools = top.add_subparsers(dest="tool", required=True)

    cfn = tools.add_parser("cloudformation", allow_abbrev=False).add_subparsers(
        dest="verb", required=True
    )
    plan = cfn.add_parser("plan", allow_abbrev=False)
    plan.add_argument("--stack", required=True)
    plan.add_argument("--template", required=True)
    plan.add_argument("--parameter", action="append", default=[])
    plan.add_argument("--change-set", default=DEFAULT_CHANGE_SET)
    plan.add_argument("--role-arn")
    apply = cfn.add_parser("apply", allow_abbrev=False)
    apply.add_argument("--stack", required=True)
    apply.add_argument("--change-set", required=True)

    tf = tools.add_parser("terraform", allow_abbrev=False).add_subparsers(
        dest="verb", required=True
    )
    tf_plan = tf.add_parser("plan", allow_abbrev=False)
    tf_plan.add_argument("--dir", required=True)
    tf_plan.add_argument("--out", required=True)
    tf_plan.add_argument("--var-file")
    tf_plan.add_argument("--store")
    tf_apply = tf.add_parser("apply", allow_abbrev=False)
    tf_apply.add_argument("--dir", required=True)
    tf_apply.add_argument("--plan", required=True)
    tf_apply.add_argument("--plan-sha256", required=True, type=_sha256)
    tf_apply.add_argument("--store")

    image = tools.add_parser("build", allow_abbrev=False)
    image.add_argument("--context", required=True)
    image.add_argument("--destination", action="append", required=True)
    image.add_argument("--dockerfile")
    image.add_argument("--build-arg", action="append", default=[])
    image.add_argument("--engine", choices=("kaniko", "docker"), default="kaniko")
    image.add_argument("--dry-run", action="store_true")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    workspace = Path(tempfile.mkdtemp(prefix="pipelines-job-"))
    try:
        return _dispatch(args, workspace)
    except (JobError, OperationError) as error:
        _print_error(error)
        return EXIT_FAILED
    except (BotoCoreError, ClientError) as error:
        _print_error(explain(error))
        return EXIT_FAILED
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


def _print_error(error: Exception) -> None:
    print(f"error: {error}", file=sys.stderr, flush=True)


def _dispatch(args: argparse.Namespace, workspace: Path) -> int:
    def local(ref: str) -> Path:
        return artifacts.materialize(ref, workspace, make_client=_client, fetch=_download)

    if args.tool == "cloudformation":
        cfn = _client("cloudformation")
        if args.verb == "plan":
            path = local(args.template)
            try:
                template = path.read_text(encoding="utf-8")
            except OSError as error:
                raise JobError(f"cannot read template {args.template}: {error.strerror}") from None
            return cloudformation_plan(
                cfn,
                stack=args.stack,
                template=template,
                parameters=args.parameter,
                change_set=args.change_set,
                role_arn=args.role_arn,
                delay=POLL_SECONDS,
            )
        return cloudformation_apply(
            cfn, stack=args.stack, change_set=args.change_set, delay=POLL_SECONDS
        )
    if args.tool == "terraform":
        directory = local(args.dir)
        if args.verb == "plan":
            return terraform_plan(
                directory=directory,
                out=Path(args.out),
                var_file=args.var_file,
                store=args.store,
                make_client=_client,
            )
        return terraform_apply(
            directory=directory,
            plan=Path(args.plan),
            expected_sha256=args.plan_sha256,
            store=args.store,
            make_client=_client,
        )
    return build(
        context=args.context,
        destinations=args.destination,
        workspace=workspace,
        dockerfile=args.dockerfile,
        build_args=args.build_arg,
        engine=args.engine,
        dry_run=args.dry_run,
        make_client=_client,
        fetch=_download,
    )


if __name__ == "__main__":
    sys.exit(main())
