"""`terraform plan|apply` around a fake `terraform` that records its argv: the plan's hash,
the refusal of any other plan, and plans kept in the plan store."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from pipelines.jobs import main as jobs
from pipelines.jobs.errors import EXIT_REFUSED
from tests.invoker.support import RUNNER_FIXTURES
from tests.jobs.support import outputs

FAKE_BIN = RUNNER_FIXTURES / "bin"
BUCKET = "shop-artifacts-111111111111-eu-west-1"


@pytest.fixture
def fake_terraform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    assert os.access(FAKE_BIN / "terraform", os.X_OK)
    monkeypatch.setenv("PATH", f"{FAKE_BIN}{os.pathsep}{os.environ['PATH']}")
    log = tmp_path / "terraform.log"
    monkeypatch.setenv("FAKE_TERRAFORM_LOG", str(log))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "infra").mkdir()
    return log


def _calls(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    calls, current = [], []
    for line in log.read_text().splitlines():
        if line == "----":
            calls.append(current)
            current = []
        else:
            current.append(line)
    return calls


def test_terraform_plan_runs_init_and_plan_and_records_the_hash(fake_terraform, capsys) -> None:
    assert jobs.main(["terraform", "plan", "--dir", "infra", "--out", "net.tfplan"]) == 0
    plan = Path("net.tfplan").resolve()
    assert _calls(fake_terraform) == [
        ["-chdir=infra", "init", "-input=false", "-no-color"],
        ["-chdir=infra", "plan", "-input=false", "-no-color", f"-out={plan}"],
    ]
    digest = hashlib.sha256(b"fake plan bytes").hexdigest()
    assert Path("net.tfplan.sha256").read_text() == f"{digest}  net.tfplan\n"
    out = capsys.readouterr().out
    # The forged line terraform printed is shown, but cannot pass for the real output.
    assert "> ::pipelines-output:: planSha256=forged-by-terraform-output" in out
    assert outputs(out) == {
        "planSha256": digest,
        "summary": "Plan: 1 to add, 0 to change, 0 to destroy.",
    }


def test_terraform_apply_runs_the_approved_plan(fake_terraform, capsys) -> None:
    jobs.main(["terraform", "plan", "--dir", "infra", "--out", "net.tfplan"])
    digest = hashlib.sha256(b"fake plan bytes").hexdigest()
    fake_terraform.unlink()
    argv = ["terraform", "apply", "--dir", "infra", "--plan", "net.tfplan"]
    assert jobs.main([*argv, "--plan-sha256", digest]) == 0
    init, apply = _calls(fake_terraform)
    assert init == ["-chdir=infra", "init", "-input=false", "-no-color"]
    assert apply[:4] == ["-chdir=infra", "apply", "-input=false", "-no-color"]
    # terraform applies a private copy of the bytes that were hashed, not the shared file.
    copy = Path(apply[4])
    assert copy.name == "net.tfplan" and copy.parent != Path.cwd()
    assert outputs(capsys.readouterr().out)["summary"].startswith("Apply complete!")


@pytest.mark.parametrize("tamper", [False, True])
def test_terraform_apply_refuses_another_plan_and_runs_nothing(
    fake_terraform, capsys, tamper: bool
) -> None:
    jobs.main(["terraform", "plan", "--dir", "infra", "--out", "net.tfplan"])
    approved = hashlib.sha256(b"fake plan bytes").hexdigest()
    expected = approved if tamper else "0" * 64
    if tamper:  # the plan file changed after the approver saw its hash
        Path("net.tfplan").write_bytes(b"fake plan bytes, plus a destroy")
    fake_terraform.unlink()
    capsys.readouterr()
    argv = ["terraform", "apply", "--dir", "infra", "--plan", "net.tfplan"]
    assert jobs.main([*argv, "--plan-sha256", expected]) == EXIT_REFUSED
    assert _calls(fake_terraform) == []  # not even init
    err = capsys.readouterr().err
    assert "refused: plan net.tfplan has SHA-256" in err
    assert "nothing applied" in err


def test_terraform_apply_takes_only_a_sha256(fake_terraform) -> None:
    with pytest.raises(SystemExit) as caught:
        jobs.main(["terraform", "apply", "--dir", "i", "--plan", "p", "--plan-sha256", "abc"])
    assert caught.value.code == 2
    assert _calls(fake_terraform) == []


def test_a_failing_terraform_plan_writes_no_hash(fake_terraform, monkeypatch, capsys) -> None:
    monkeypatch.setenv("FAKE_TERRAFORM_FAIL", "plan")
    assert jobs.main(["terraform", "plan", "--dir", "infra", "--out", "net.tfplan"]) == 1
    assert not Path("net.tfplan.sha256").exists()
    assert "planSha256" not in outputs(capsys.readouterr().out)


def test_plans_travel_through_the_plan_store(fake_terraform, monkeypatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    store = f"s3://{BUCKET}/plans/run-1"
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        plan_argv = ["terraform", "plan", "--dir", "infra", "--out", "net.tfplan"]
        assert jobs.main([*plan_argv, "--store", store]) == 0
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
        assert keys == ["plans/run-1/net.tfplan", "plans/run-1/net.tfplan.sha256"]
        # The apply runs elsewhere: a fresh directory with no plan file.
        Path("net.tfplan").unlink()
        digest = hashlib.sha256(b"fake plan bytes").hexdigest()
        apply_argv = ["terraform", "apply", "--dir", "infra", "--plan", "net.tfplan"]
        assert jobs.main([*apply_argv, "--plan-sha256", digest, "--store", store]) == 0
        s3.put_object(Bucket=BUCKET, Key="plans/run-1/net.tfplan", Body=b"swapped in the store")
        assert jobs.main([*apply_argv, "--plan-sha256", digest, "--store", store]) == 3
