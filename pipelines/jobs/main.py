"""Job entrypoints, run inside the runner containers: `python -m pipelines.jobs ...`.

    cloudformation plan  --stack S --template FILE [--parameter K=V]... [--change-set NAME]
                         [--role-arn ARN]
    cloudformation apply --stack S --change-set NAME|ID
    terraform plan  --dir D --out PLAN [--var-file F] [--store s3://bucket/prefix]
    terraform apply --dir D --plan PLAN --plan-sha256 HEX [--store s3://bucket/prefix]
    build --context CTX --destination IMAGE... [--dockerfile F] [--build-arg K=V]...
          [--engine kaniko|docker] [--dry-run]

FILE, D and CTX may be `Artifact::path`: a path inside the CodePipeline input artifact of that
name, whose S3 location the invoker passes in PIPELINES_ARTIFACTS. A job hands values to
CodePipeline by printing `::pipelines-output:: NAME=VALUE` (see emit); the invoker turns the
last such line per name into an output variable of the action.

Exit status: 0 done, 1 failed, 2 usage, 3 refused (a terraform plan whose SHA-256 is not the
approved one). External tools run from an argv list, never through a shell.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.invoker import names

POLL_SECONDS = float(os.environ.get("PIPELINES_POLL_SECONDS", "5"))
KANIKO_EXECUTOR = "/kaniko/executor"
TERRAFORM = "terraform"
DEFAULT_CHANGE_SET = "pipelines-plan"
DEFAULT_CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_NAMED_IAM")
# CloudFormation takes a TemplateBody up to this size; larger templates need an S3 URL.
MAX_TEMPLATE_BODY = 51_200
EXIT_FAILED = 1
EXIT_REFUSED = 3
_NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
_STACK_DONE_OK = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}


class JobError(Exception):
    """A job cannot go on; the message is printed and the job exits 1."""


# Outputs


def emit(name: str, value: str) -> None:
    """Hand NAME=VALUE to CodePipeline (via the invoker) and to CodeBuild (via a file)."""
    value = " ".join(str(value).split())  # one line: the invoker reads lines
    print(f"{names.OUTPUT_MARKER} {name}={value}", flush=True)
    path = os.environ.get(names.OUTPUT_FILE_VARIABLE)
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"{name}={value}\n")


def echo(line: str) -> None:
    """Print a line of a tool's output, so that it can never pass for one of our outputs."""
    line = line.rstrip("\n")
    if line.lstrip().startswith(names.OUTPUT_MARKER):
        line = "> " + line
    print(line, flush=True)


# Artifacts


def materialize(ref: str, workspace: Path, s3: Any = None) -> Path:
    """A local path for `path` or `Artifact::path` (downloading and unzipping the artifact).

    The artifact's location is `s3://bucket/key` (read with the task role, on the toolchain's
    runner) or a presigned `https://` link (a job in an environment's account, whose role cannot
    read the toolchain's bucket). Plain `http://` only to a loopback address.
    """
    name, sep, inner = ref.partition("::")
    if not sep:
        return Path(ref)
    locations = json.loads(os.environ.get(names.ARTIFACTS_VARIABLE) or "{}")
    if name not in locations:
        have = ", ".join(sorted(locations)) or "none"
        raise JobError(f"no input artifact {name!r} (this job has: {have})")
    root = workspace / name
    if not root.exists():
        location = locations[name]
        archive = workspace / f"{name}.zip"
        if _is_link(location):
            _download(name, location, archive)
        else:
            bucket, key = _s3_parts(location)
            (s3 or _client("s3")).download_file(bucket, key, str(archive))
        try:
            bundle = zipfile.ZipFile(archive)
        except zipfile.BadZipFile:
            raise JobError(f"artifact {name!r} is not a zip archive") from None
        with bundle:
            for member in bundle.namelist():
                if member.startswith("/") or ".." in Path(member).parts:
                    raise JobError(f"artifact {name!r} holds an unsafe path {member!r}")
            bundle.extractall(root)
    path = (root / inner).resolve()
    if not path.is_relative_to(root.resolve()):
        raise JobError(f"{ref!r} points outside the artifact")
    return path


_LOOPBACK = ("127.0.0.1", "localhost", "::1")
DOWNLOAD_TIMEOUT = 120


def _is_link(location: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(location)
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK)


def _download(name: str, url: str, archive: Path) -> None:
    """GET a presigned link to a file; errors name the host and path, never the signature."""
    from urllib.error import URLError
    from urllib.parse import urlsplit
    from urllib.request import urlopen

    parts = urlsplit(url)
    shown = f"{parts.scheme}://{parts.netloc}{parts.path}"
    try:
        with urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response, archive.open("wb") as out:
            shutil.copyfileobj(response, out)
    except URLError as error:  # HTTPError too: 403 once the link has expired
        code = getattr(error, "code", None)
        why = f"HTTP {code}" if code else str(getattr(error, "reason", error))
        raise JobError(f"cannot download artifact {name!r} from {shown}: {why}") from None
    except OSError as error:
        raise JobError(f"cannot download artifact {name!r} from {shown}: {error}") from None


def _s3_parts(uri: str) -> tuple[str, str]:
    match = re.fullmatch(r"s3://([^/]+)/(.+)", uri)
    if not match:
        raise JobError(f"not an s3://bucket/key or https:// location: {uri[:80]!r}")
    return match.group(1), match.group(2)


def _client(service: str) -> Any:
    import boto3  # only jobs that talk to AWS need it

    return boto3.client(service)


# CloudFormation


@dataclass(frozen=True)
class Change:
    action: str
    resource: str
    kind: str
    replacement: str


def cloudformation_plan(
    cfn: Any,
    *,
    stack: str,
    template: str,
    parameters: Sequence[str] = (),
    change_set: str = DEFAULT_CHANGE_SET,
    role_arn: str | None = None,
    delay: float = POLL_SECONDS,
) -> int:
    """Create (replacing) a change set, wait for it, print what it would do."""
    if len(template.encode()) > MAX_TEMPLATE_BODY:
        raise JobError(
            f"the template is {len(template.encode())} bytes; CloudFormation takes at most "
            f"{MAX_TEMPLATE_BODY} inline"
        )
    status = _stack_status(cfn, stack)
    kind = "CREATE" if status in (None, "REVIEW_IN_PROGRESS") else "UPDATE"
    _delete_change_set(cfn, stack, change_set, delay)
    request: dict[str, Any] = {
        "StackName": stack,
        "ChangeSetName": change_set,
        "ChangeSetType": kind,
        "TemplateBody": template,
        "Parameters": _parameters(cfn, stack, template, parameters, kind),
        "Capabilities": list(DEFAULT_CAPABILITIES),
        "Description": "pipelines runner plan",
    }
    if role_arn:
        request["RoleARN"] = role_arn
    created = cfn.create_change_set(**request)
    described = _wait_change_set(cfn, stack, created["Id"], delay)
    print(f"Change set {change_set} for stack {stack} ({kind}):", flush=True)
    emit("changeSet", change_set)
    emit("changeSetId", created["Id"])
    if described["Status"] == "FAILED":
        reason = described.get("StatusReason", "")
        if any(text in reason for text in _NO_CHANGES):
            print("No changes.")
            emit("summary", f"{stack}: no changes")
            return 0
        raise JobError(f"change set {change_set} failed: {reason}")
    changes = _changes(cfn, stack, created["Id"], described)
    print_changes(changes)
    emit("summary", f"{stack}: {plan_summary(changes)}")
    return 0


def cloudformation_apply(
    cfn: Any, *, stack: str, change_set: str, delay: float = POLL_SECONDS
) -> int:
    """Execute exactly the named change set of the stack, then wait for the stack."""
    # An id is looked up on its own, so that a mismatch is reported as such below.
    lookup = {"ChangeSetName": change_set}
    if not change_set.startswith("arn:"):
        lookup["StackName"] = stack
    try:
        described = cfn.describe_change_set(**lookup)
    except Exception as error:  # botocore's ChangeSetNotFound and friends
        raise JobError(f"no change set {change_set!r} on stack {stack}: {error}") from None
    # An id names its own stack; make sure it is the stack the caller was allowed to name.
    if described["StackName"] != stack:
        raise JobError(f"change set {change_set!r} belongs to {described['StackName']}")
    if described["Status"] == "FAILED" and any(
        text in described.get("StatusReason", "") for text in _NO_CHANGES
    ):
        print(f"Change set {change_set} holds no changes; nothing to apply.")
        emit("summary", f"{stack}: no changes")
        return 0
    if described["Status"] != "CREATE_COMPLETE" or described["ExecutionStatus"] != "AVAILABLE":
        raise JobError(
            f"change set {change_set} is {described['Status']}/{described['ExecutionStatus']}, "
            "not ready to execute"
        )
    changes = _changes(cfn, stack, described["ChangeSetId"], described)
    print(f"Executing change set {described['ChangeSetName']} on {stack}:")
    print_changes(changes)
    seen = {e["EventId"] for e in _events(cfn, stack)}
    cfn.execute_change_set(StackName=stack, ChangeSetName=described["ChangeSetId"])
    while True:
        stack_info = cfn.describe_stacks(StackName=stack)["Stacks"][0]
        fresh = [e for e in _events(cfn, stack) if e["EventId"] not in seen]
        for event in reversed(fresh):  # the API lists newest first
            seen.add(event["EventId"])
            reason = (
                f" {event['ResourceStatusReason']}" if event.get("ResourceStatusReason") else ""
            )
            print(f"  {event['ResourceStatus']:<28} {event['LogicalResourceId']}{reason}")
        status = stack_info["StackStatus"]
        if not status.endswith("_IN_PROGRESS"):
            break
        time.sleep(delay)
    emit("stackStatus", status)
    if status not in _STACK_DONE_OK:
        raise JobError(f"stack {stack} ended {status}: {stack_info.get('StackStatusReason', '')}")
    emit("summary", f"{stack}: {plan_summary(changes)} applied")
    return 0


def print_changes(changes: Sequence[Change]) -> None:
    if not changes:
        print("  (no resource changes)")
        return
    width = max(len("Resource"), *(len(c.resource) for c in changes))
    kind_width = max(len("Type"), *(len(c.kind) for c in changes))
    print(f"  {'Action':<8} {'Resource':<{width}}  {'Type':<{kind_width}}  Replacement")
    for c in changes:
        print(f"  {c.action:<8} {c.resource:<{width}}  {c.kind:<{kind_width}}  {c.replacement}")
    print(f"Plan: {plan_summary(changes)}.", flush=True)


def plan_summary(changes: Sequence[Change]) -> str:
    count = {a: sum(c.action == a for c in changes) for a in ("Add", "Modify", "Remove")}
    replaced = sum(c.replacement in ("True", "Conditional") for c in changes)
    other = len(changes) - sum(count.values())
    text = (
        f"{count['Add']} to add, {count['Modify']} to modify ({replaced} replaced), "
        f"{count['Remove']} to remove"
    )
    return text + (f", {other} other" if other else "")


def _changes(cfn: Any, stack: str, change_set_id: str, first: dict[str, Any]) -> list[Change]:
    page, changes = first, []
    while True:
        for item in page.get("Changes", []):
            rc = item.get("ResourceChange", {})
            changes.append(
                Change(
                    action=rc.get("Action", item.get("Type", "?")),
                    resource=rc.get("LogicalResourceId", "?"),
                    kind=rc.get("ResourceType", "?"),
                    replacement=rc.get("Replacement", "-") if rc.get("Action") == "Modify" else "-",
                )
            )
        token = page.get("NextToken")
        if not token:
            return changes
        page = cfn.describe_change_set(
            StackName=stack, ChangeSetName=change_set_id, NextToken=token
        )


def _stack_status(cfn: Any, stack: str) -> str | None:
    try:
        return cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
    except Exception as error:
        if "does not exist" in str(error):
            return None
        raise


def _delete_change_set(cfn: Any, stack: str, name: str, delay: float) -> None:
    """Remove an earlier change set of that name, so each plan starts fresh."""
    for attempt in range(60):
        try:
            cfn.describe_change_set(StackName=stack, ChangeSetName=name)
        except Exception:
            return
        if attempt == 0:
            cfn.delete_change_set(StackName=stack, ChangeSetName=name)
        time.sleep(delay)
    raise JobError(f"change set {name} of {stack} is still there after deleting it")


def _wait_change_set(cfn: Any, stack: str, change_set_id: str, delay: float) -> dict[str, Any]:
    while True:
        described = cfn.describe_change_set(StackName=stack, ChangeSetName=change_set_id)
        if described["Status"] in ("CREATE_COMPLETE", "FAILED"):
            return described
        time.sleep(delay)


def _parameters(
    cfn: Any, stack: str, template: str, given: Sequence[str], kind: str
) -> list[dict[str, Any]]:
    """Given parameters; on update, the stack's other parameters keep their previous values
    (like `aws cloudformation deploy`), where the template still declares them."""
    result: dict[str, dict[str, Any]] = {}
    for item in given:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise JobError(f"--parameter takes KEY=VALUE, got {item!r}")
        result[key] = {"ParameterKey": key, "ParameterValue": value}
    if kind == "UPDATE":
        try:
            declared = set(json.loads(template).get("Parameters", {}))
        except ValueError:
            declared = set()  # a YAML template: only the given parameters are passed
        stack_info = cfn.describe_stacks(StackName=stack)["Stacks"][0]
        for p in stack_info.get("Parameters", []):
            key = p["ParameterKey"]
            if key in declared and key not in result:
                result[key] = {"ParameterKey": key, "UsePreviousValue": True}
    return list(result.values())


def _events(cfn: Any, stack: str) -> list[dict[str, Any]]:
    return cfn.describe_stack_events(StackName=stack)["StackEvents"]


# Terraform


ToolRunner = Callable[[Sequence[str]], "RunResult"]


@dataclass(frozen=True)
class RunResult:
    returncode: int
    lines: tuple[str, ...]


def run_streaming(argv: Sequence[str]) -> RunResult:
    """Run argv (no shell), echoing its output line by line and keeping it."""
    lines: list[str] = []
    with subprocess.Popen(
        list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            echo(line)
            lines.append(line.rstrip("\n"))
    return RunResult(process.returncode, tuple(lines))


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def terraform_plan(
    *,
    directory: Path,
    out: Path,
    var_file: str | None = None,
    store: str | None = None,
    run: ToolRunner = run_streaming,
    s3: Any = None,
) -> int:
    """terraform init and plan -out; the plan file gets PLAN.sha256 beside it."""
    out = out.resolve()
    chdir = f"-chdir={directory}"
    init = run([TERRAFORM, chdir, "init", "-input=false", "-no-color"])
    if init.returncode:
        return init.returncode
    plan_argv = [TERRAFORM, chdir, "plan", "-input=false", "-no-color", f"-out={out}"]
    if var_file:
        plan_argv.append(f"-var-file={var_file}")
    plan = run(plan_argv)
    if plan.returncode:
        return plan.returncode
    if not out.is_file():
        raise JobError(f"terraform plan wrote no plan file at {out}")
    digest = sha256_of(out)
    checksum = out.with_name(out.name + ".sha256")
    checksum.write_text(f"{digest}  {out.name}\n", encoding="utf-8")
    print(f"Plan file {out.name}: SHA-256 {digest}")
    if store:
        bucket, prefix = _s3_parts(store.rstrip("/") + "/")
        client = s3 or _client("s3")
        for path in (out, checksum):
            client.upload_file(str(path), bucket, f"{prefix}{path.name}")
        print(f"Stored in {store.rstrip('/')}/{out.name}")
    emit("planSha256", digest)
    emit("summary", _terraform_summary(plan.lines, "Plan:", "No changes."))
    return 0


def terraform_apply(
    *,
    directory: Path,
    plan: Path,
    expected_sha256: str,
    store: str | None = None,
    run: ToolRunner = run_streaming,
    s3: Any = None,
) -> int:
    """terraform apply PLAN, only if PLAN's SHA-256 is the approved one; else nothing runs."""
    plan = plan.resolve()
    if store:
        bucket, prefix = _s3_parts(store.rstrip("/") + "/")
        plan.parent.mkdir(parents=True, exist_ok=True)
        (s3 or _client("s3")).download_file(bucket, f"{prefix}{plan.name}", str(plan))
    if not plan.is_file():
        raise JobError(f"no plan file at {plan}")
    content = plan.read_bytes()
    actual = hashlib.sha256(content).hexdigest()
    if not hmac.compare_digest(actual, expected_sha256.lower()):
        print(
            f"refused: plan {plan.name} has SHA-256 {actual}, but the approved plan has "
            f"{expected_sha256}; nothing applied",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_REFUSED
    # Apply a private copy of exactly the bytes just hashed, so nothing can swap the file
    # between the check and terraform reading it.
    with tempfile.TemporaryDirectory(prefix="pipelines-plan-") as private:
        copy = Path(private) / plan.name
        copy.write_bytes(content)
        copy.chmod(0o400)
        chdir = f"-chdir={directory}"
        init = run([TERRAFORM, chdir, "init", "-input=false", "-no-color"])
        if init.returncode:
            return init.returncode
        applied = run([TERRAFORM, chdir, "apply", "-input=false", "-no-color", str(copy)])
    if applied.returncode:
        return applied.returncode
    emit("summary", _terraform_summary(applied.lines, "Apply complete!", "No changes."))
    return 0


def _terraform_summary(lines: Iterable[str], *starts: str) -> str:
    found = [line.strip() for line in lines if line.strip().startswith(starts)]
    return found[-1] if found else "terraform finished"


# Image builds


def kaniko_argv(
    *,
    context: str,
    destinations: Sequence[str],
    dockerfile: str | None = None,
    build_args: Sequence[str] = (),
) -> list[str]:
    """The kaniko executor's argv. `--flag=value` form: a value can never read as a flag."""
    argv = [KANIKO_EXECUTOR, f"--context={context}"]
    if dockerfile:
        argv.append(f"--dockerfile={dockerfile}")
    argv += [f"--destination={d}" for d in destinations]
    argv += [f"--build-arg={a}" for a in build_args]
    # Same sources, same image bytes: timestamps are not what a digest should depend on.
    argv.append("--reproducible")
    return argv


def docker_argvs(
    *,
    context: str,
    destinations: Sequence[str],
    dockerfile: str | None = None,
    build_args: Sequence[str] = (),
) -> list[list[str]]:
    """docker build, then docker push of each destination (CodeBuild, privileged)."""
    build = ["docker", "build"]
    if dockerfile:
        build += ["--file", str(Path(context) / dockerfile)]
    for destination in destinations:
        build += ["--tag", destination]
    for arg in build_args:
        build += ["--build-arg", arg]
    build += ["--", context]
    return [build, *(["docker", "push", "--", d] for d in destinations)]


def build(args: argparse.Namespace, workspace: Path) -> int:
    context = args.context
    if "::" in context:
        local = materialize(context, workspace)
        context = f"dir://{local}" if args.engine == "kaniko" else str(local)
    if args.engine == "kaniko":
        argv = kaniko_argv(
            context=context,
            destinations=args.destination,
            dockerfile=args.dockerfile,
            build_args=args.build_arg,
        )
        if args.dry_run:
            print(json.dumps(argv))
            return 0
        # Replace this process: kaniko unpacks base images over the root filesystem, where a
        # Python process waiting on it could lose its own files.
        os.execv(argv[0], argv)
    if context.startswith("s3://"):
        raise JobError("the docker engine builds a local directory or an Artifact::path")
    argvs = docker_argvs(
        context=context,
        destinations=args.destination,
        dockerfile=args.dockerfile,
        build_args=args.build_arg,
    )
    if args.dry_run:
        for argv in argvs:
            print(json.dumps(argv))
        return 0
    _docker_login(args.destination)
    for argv in argvs:
        result = run_streaming(argv)
        if result.returncode:
            return result.returncode
    return 0


def _docker_login(destinations: Sequence[str]) -> None:
    import base64

    registries = sorted({d.split("/", 1)[0] for d in destinations})
    token = _client("ecr").get_authorization_token()["authorizationData"][0]
    password = base64.b64decode(token["authorizationToken"]).decode().partition(":")[2]
    for registry in registries:
        subprocess.run(
            ["docker", "login", "--username", "AWS", "--password-stdin", registry],
            input=password,
            text=True,
            check=True,
        )


# Command line


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
    except JobError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return EXIT_FAILED
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


def _dispatch(args: argparse.Namespace, workspace: Path) -> int:
    if args.tool == "cloudformation":
        cfn = _client("cloudformation")
        if args.verb == "plan":
            path = materialize(args.template, workspace)
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
        directory = materialize(args.dir, workspace)
        if args.verb == "plan":
            return terraform_plan(
                directory=directory, out=Path(args.out), var_file=args.var_file, store=args.store
            )
        return terraform_apply(
            directory=directory,
            plan=Path(args.plan),
            expected_sha256=args.plan_sha256,
            store=args.store,
        )
    return build(args, workspace)


if __name__ == "__main__":
    sys.exit(main())
