"""The command line of the jobs: `python -m pipelines.jobs ...` parses, reads its inputs and
ends with one line and an exit status, whatever goes wrong."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile

import boto3
import pytest
from moto import mock_aws

from pipelines.invoker import names
from pipelines.jobs import main as jobs
from tests.jobs.support import template

BUCKET = "shop-artifacts-111111111111-eu-west-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setattr(jobs, "POLL_SECONDS", 0)
    with mock_aws():
        yield


def test_apply_of_a_missing_change_set_fails_cleanly(aws, capsys) -> None:
    assert jobs.main(["cloudformation", "apply", "--stack", "nope", "--change-set", "x"]) == 1
    assert capsys.readouterr().err.startswith("error: no change set 'x' on stack nope")


def test_an_aws_error_is_one_line_not_a_traceback(aws, capsys, tmp_path) -> None:
    path = tmp_path / "t.json"
    path.write_text(template("a"))
    argv = ["cloudformation", "plan", "--stack", "shop-dev-web", "--template", str(path)]
    assert jobs.main([*argv, "--change-set", "not_a_valid_name"]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("error: CreateChangeSet failed: ValidationError")


def test_plan_reads_the_template_from_a_pipeline_artifact(aws, monkeypatch, capsys) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("shop-dev-web.json", template("fromzip"))
    s3.put_object(Bucket=BUCKET, Key="pipeline/Templates/abc.zip", Body=archive.getvalue())
    monkeypatch.setenv(
        names.ARTIFACTS_VARIABLE,
        json.dumps({"Templates": f"s3://{BUCKET}/pipeline/Templates/abc.zip"}),
    )
    argv = ["cloudformation", "plan", "--stack", "shop-dev-web"]
    assert jobs.main([*argv, "--template", "Templates::shop-dev-web.json"]) == 0
    assert "TopicFromzip" in capsys.readouterr().out
    assert jobs.main([*argv, "--template", "Missing::x.json"]) == 1
    assert "no input artifact 'Missing' (this job has: Templates)" in capsys.readouterr().err


def test_the_module_runs_as_python_dash_m() -> None:
    argv = ["build", "--context", "s3://b/c.tar.gz", "--destination", "r/x:1", "--dry-run"]
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.jobs", *argv], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0] == "/kaniko/executor"
    usage = subprocess.run(
        [sys.executable, "-m", "pipelines.jobs", "cloudformation", "plan"],
        capture_output=True,
        text=True,
    )
    assert usage.returncode == 2
    assert "--stack" in usage.stderr


def test_what_other_code_imports_from_main_is_there() -> None:
    from pipelines.jobs.main import Change, JobError, plan_summary  # noqa: F401

    assert callable(jobs.parser) and callable(jobs._client) and callable(jobs._download)
    assert jobs.EXIT_REFUSED == 3
