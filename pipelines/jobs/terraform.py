"""`terraform plan` and `terraform apply`: a plan file whose SHA-256 is recorded, and applied
only if its SHA-256 is the approved one (else nothing runs: exit 3)."""

from __future__ import annotations

import hashlib
import hmac
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pipelines.jobs.artifacts import ClientMaker, client, s3_parts
from pipelines.jobs.errors import EXIT_REFUSED, JobError
from pipelines.jobs.outputs import emit
from pipelines.jobs.tools import ToolRunner, run_streaming

TERRAFORM = "terraform"


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
    make_client: ClientMaker = client,
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
        bucket, prefix = s3_parts(store.rstrip("/") + "/")
        uploader = s3 or make_client("s3")
        for path in (out, checksum):
            uploader.upload_file(str(path), bucket, f"{prefix}{path.name}")
        print(f"Stored in {store.rstrip('/')}/{out.name}")
    emit("planSha256", digest)
    emit("summary", _summary(plan.lines, "Plan:", "No changes."))
    return 0


def terraform_apply(
    *,
    directory: Path,
    plan: Path,
    expected_sha256: str,
    store: str | None = None,
    run: ToolRunner = run_streaming,
    s3: Any = None,
    make_client: ClientMaker = client,
) -> int:
    """terraform apply PLAN, only if PLAN's SHA-256 is the approved one; else nothing runs."""
    plan = plan.resolve()
    if store:
        bucket, prefix = s3_parts(store.rstrip("/") + "/")
        plan.parent.mkdir(parents=True, exist_ok=True)
        (s3 or make_client("s3")).download_file(bucket, f"{prefix}{plan.name}", str(plan))
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
    emit("summary", _summary(applied.lines, "Apply complete!", "No changes."))
    return 0


def _summary(lines: Iterable[str], *starts: str) -> str:
    found = [line.strip() for line in lines if line.strip().startswith(starts)]
    return found[-1] if found else "terraform finished"
