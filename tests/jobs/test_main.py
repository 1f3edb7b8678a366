"""Job entrypoints: change-set plan/apply against moto's CloudFormation, terraform wrapped around
a fake `terraform` that records its argv, the plan-hash refusal, the kaniko argv, and input
artifacts by presigned link (served by a local HTTP server)."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import threading
import zipfile
from pathlib import Path
from typing import ClassVar

import boto3
import pytest
from moto import mock_aws

from pipelines.invoker import names
from pipelines.invoker.logs import parse_output
from pipelines.jobs import main as jobs
from tests.invoker.support import RUNNER_FIXTURES

FAKE_BIN = RUNNER_FIXTURES / "bin"
BUCKET = "shop-artifacts-111111111111-eu-west-1"


def _template(*topics: str, parameter: bool = False) -> str:
    resources = {
        f"Topic{t.capitalize()}": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": t}}
        for t in topics
    }
    body: dict = {"Resources": resources}
    if parameter:
        body["Parameters"] = {"Owner": {"Type": "String"}}
    return json.dumps(body)


def _outputs(text: str) -> dict[str, str]:
    """The output variables the invoker would read from these log lines."""
    found = {}
    for line in text.splitlines():
        parsed = parse_output(line)
        if parsed:
            found[parsed[0]] = parsed[1]
    return found


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setattr(jobs, "POLL_SECONDS", 0)
    with mock_aws():
        yield


# CloudFormation


def test_plan_creates_a_change_set_and_prints_it(aws, capsys) -> None:
    cfn = boto3.client("cloudformation")
    code = jobs.cloudformation_plan(cfn, stack="shop-dev-web", template=_template("a"), delay=0)
    out = capsys.readouterr().out
    assert code == 0
    assert "Change set pipelines-plan for stack shop-dev-web (CREATE):" in out
    assert "Add      TopicA" in out
    outputs = _outputs(out)
    assert outputs["summary"] == "shop-dev-web: 1 to add, 0 to modify (0 replaced), 0 to remove"
    assert outputs["changeSetId"].startswith("arn:aws:cloudformation:eu-west-1:")
    described = cfn.describe_change_set(StackName="shop-dev-web", ChangeSetName="pipelines-plan")
    assert described["ExecutionStatus"] == "AVAILABLE"  # planned, not executed
    assert cfn.describe_stacks(StackName="shop-dev-web")["Stacks"][0]["StackStatus"] == (
        "REVIEW_IN_PROGRESS"
    )


def test_apply_executes_exactly_the_planned_change_set(aws, capsys) -> None:
    cfn = boto3.client("cloudformation")
    jobs.cloudformation_plan(cfn, stack="shop-dev-web", template=_template("a"), delay=0)
    change_set_id = _outputs(capsys.readouterr().out)["changeSetId"]
    code = jobs.cloudformation_apply(cfn, stack="shop-dev-web", change_set=change_set_id, delay=0)
    out = capsys.readouterr().out
    assert code == 0
    assert cfn.describe_stacks(StackName="shop-dev-web")["Stacks"][0]["StackStatus"] == (
        "CREATE_COMPLETE"
    )
    assert "CREATE_COMPLETE" in out
    assert _outputs(out)["stackStatus"] == "CREATE_COMPLETE"
    assert [
        t["TopicArn"].rsplit(":", 1)[1] for t in boto3.client("sns").list_topics()["Topics"]
    ] == ["a"]


def test_a_second_plan_replaces_the_first_and_shows_the_update(aws, capsys) -> None:
    cfn = boto3.client("cloudformation")
    jobs.cloudformation_plan(cfn, stack="shop-dev-web", template=_template("a"), delay=0)
    jobs.cloudformation_apply(cfn, stack="shop-dev-web", change_set="pipelines-plan", delay=0)
    jobs.cloudformation_plan(cfn, stack="shop-dev-web", template=_template("b"), delay=0)
    jobs.cloudformation_plan(cfn, stack="shop-dev-web", template=_template("a", "b"), delay=0)
    out = capsys.readouterr().out
    names_ = [
        s["ChangeSetName"]
        for s in cfn.list_change_sets(StackName="shop-dev-web")["Summaries"]
        if s["ExecutionStatus"] == "AVAILABLE"
    ]
    assert names_ == ["pipelines-plan"]
    assert "(UPDATE)" in out
    assert _outputs(out)["summary"].startswith("shop-dev-web: 1 to add")


def test_an_unchanged_template_plans_and_applies_nothing(aws, capsys) -> None:
    cfn = boto3.client("cloudformation")
    jobs.cloudformation_plan(cfn, stack="shop-dev-web", template=_template("a"), delay=0)
    jobs.cloudformation_apply(cfn, stack="shop-dev-web", change_set="pipelines-plan", delay=0)
    capsys.readouterr()
    assert (
        jobs.cloudformation_plan(cfn, stack="shop-dev-web", template=_template("a"), delay=0) == 0
    )
    assert "No changes." in capsys.readouterr().out
    assert (
        jobs.cloudformation_apply(cfn, stack="shop-dev-web", change_set="pipelines-plan", delay=0)
        == 0
    )
    out = capsys.readouterr().out
    assert "nothing to apply" in out
    assert _outputs(out)["summary"] == "shop-dev-web: no changes"


def test_parameters_not_given_keep_their_previous_value(aws) -> None:
    cfn = boto3.client("cloudformation")
    template = _template("a", parameter=True)
    jobs.cloudformation_plan(
        cfn, stack="shop-dev-web", template=template, parameters=["Owner=team-a"], delay=0
    )
    jobs.cloudformation_apply(cfn, stack="shop-dev-web", change_set="pipelines-plan", delay=0)
    jobs.cloudformation_plan(
        cfn, stack="shop-dev-web", template=_template("a", "b", parameter=True), delay=0
    )
    stack = cfn.describe_stacks(StackName="shop-dev-web")["Stacks"][0]
    assert stack["Parameters"] == [{"ParameterKey": "Owner", "ParameterValue": "team-a"}]
    with pytest.raises(jobs.JobError, match="KEY=VALUE"):
        jobs.cloudformation_plan(
            cfn, stack="shop-dev-web", template=template, parameters=["Owner"], delay=0
        )


def test_apply_refuses_a_change_set_id_of_another_stack(aws, capsys) -> None:
    cfn = boto3.client("cloudformation")
    # moto finds change sets by name across stacks, so this one gets a name of its own.
    jobs.cloudformation_plan(
        cfn, stack="shop-dev-other", template=_template("x"), change_set="other", delay=0
    )
    other_id = _outputs(capsys.readouterr().out)["changeSetId"]
    jobs.cloudformation_plan(cfn, stack="shop-dev-web", template=_template("a"), delay=0)
    with pytest.raises(jobs.JobError, match="belongs to shop-dev-other"):
        jobs.cloudformation_apply(cfn, stack="shop-dev-web", change_set=other_id, delay=0)
    assert cfn.describe_stacks(StackName="shop-dev-other")["Stacks"][0]["StackStatus"] == (
        "REVIEW_IN_PROGRESS"
    )


def test_apply_of_a_missing_change_set_fails_cleanly(aws) -> None:
    assert jobs.main(["cloudformation", "apply", "--stack", "nope", "--change-set", "x"]) == 1


def test_plan_reads_the_template_from_a_pipeline_artifact(aws, monkeypatch, capsys) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("shop-dev-web.json", _template("fromzip"))
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


# Terraform


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
    assert _outputs(out) == {
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
    assert _outputs(capsys.readouterr().out)["summary"].startswith("Apply complete!")


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
    assert jobs.main([*argv, "--plan-sha256", expected]) == jobs.EXIT_REFUSED
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
    assert "planSha256" not in _outputs(capsys.readouterr().out)


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


# Image builds


def test_kaniko_argv() -> None:
    assert jobs.kaniko_argv(
        context="s3://bucket/ctx.tar.gz",
        destinations=["1.dkr.ecr.eu-west-1.amazonaws.com/shop-web:v1", "1.dkr/x:release"],
        dockerfile="docker/Dockerfile",
        build_args=["VERSION=1.2.3"],
    ) == [
        "/kaniko/executor",
        "--context=s3://bucket/ctx.tar.gz",
        "--dockerfile=docker/Dockerfile",
        "--destination=1.dkr.ecr.eu-west-1.amazonaws.com/shop-web:v1",
        "--destination=1.dkr/x:release",
        "--build-arg=VERSION=1.2.3",
        "--reproducible",
    ]


def test_build_dry_run_prints_the_kaniko_argv(capsys) -> None:
    argv = ["build", "--engine", "kaniko", "--context", "s3://b/c.tar.gz"]
    assert jobs.main([*argv, "--destination", "r/x:1", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        "/kaniko/executor",
        "--context=s3://b/c.tar.gz",
        "--destination=r/x:1",
        "--reproducible",
    ]


def test_docker_argvs_end_options_before_the_context() -> None:
    assert jobs.docker_argvs(
        context="src", destinations=["r/x:1"], dockerfile="Dockerfile", build_args=["A=1"]
    ) == [
        [
            "docker",
            "build",
            "--file",
            "src/Dockerfile",
            "--tag",
            "r/x:1",
            "--build-arg",
            "A=1",
            "--",
            "src",
        ],
        ["docker", "push", "--", "r/x:1"],
    ]


# Artifacts by link (jobs in an environment's account)


class _Artifacts(http.server.BaseHTTPRequestHandler):
    """Serves zip archives by path, like S3 answers a presigned GET (the query is ignored)."""

    files: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        body = self.files.get(self.path.split("?", 1)[0])
        if body is None:
            self.send_error(403, "Request has expired")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


def _zip(**members: str) -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        for name, text in members.items():
            bundle.writestr(name.replace("__", "/"), text)
    return archive.getvalue()


@pytest.fixture
def links(monkeypatch: pytest.MonkeyPatch):
    """A local HTTP server in a thread; yields a function pointing an artifact at a path."""
    _Artifacts.files = {
        "/p/Templates/k.zip": _zip(**{"shop-dev-web.json": "{}", "nested__a.txt": "a"}),
        "/p/Evil/k.zip": _zip(**{"..__escape.txt": "x"}),
        "/p/Junk/k.zip": b"not a zip",
    }
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Artifacts)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"

    def point(**artifacts: str) -> None:
        monkeypatch.setenv(
            names.ARTIFACTS_VARIABLE,
            json.dumps({k: f"{base}{v}?X-Amz-Signature=s3cr3t" for k, v in artifacts.items()}),
        )

    try:
        yield point
    finally:
        server.shutdown()
        server.server_close()


def test_an_artifact_link_is_downloaded_and_unzipped(links, tmp_path: Path) -> None:
    links(Templates="/p/Templates/k.zip")
    path = jobs.materialize("Templates::shop-dev-web.json", tmp_path)
    assert path == (tmp_path / "Templates" / "shop-dev-web.json").resolve()
    assert path.read_text() == "{}"
    assert jobs.materialize("Templates::nested/a.txt", tmp_path).read_text() == "a"
    with pytest.raises(jobs.JobError, match="points outside the artifact"):
        jobs.materialize("Templates::../../etc/passwd", tmp_path)


def test_an_artifact_link_keeps_the_unzip_safety_checks(links, tmp_path: Path) -> None:
    links(Evil="/p/Evil/k.zip", Junk="/p/Junk/k.zip")
    with pytest.raises(
        jobs.JobError, match=r"artifact 'Evil' holds an unsafe path '\.\./escape\.txt'"
    ):
        jobs.materialize("Evil::escape.txt", tmp_path)
    assert not (tmp_path / "escape.txt").exists()
    with pytest.raises(jobs.JobError, match="artifact 'Junk' is not a zip archive"):
        jobs.materialize("Junk::x", tmp_path)


def test_a_failed_download_names_the_link_but_not_its_signature(links, tmp_path: Path) -> None:
    links(Templates="/p/Expired/k.zip")
    with pytest.raises(jobs.JobError) as caught:
        jobs.materialize("Templates::shop-dev-web.json", tmp_path)
    message = str(caught.value)
    assert "cannot download artifact 'Templates' from http://127.0.0.1:" in message
    assert message.endswith("/p/Expired/k.zip: HTTP 403")
    assert "s3cr3t" not in message


@pytest.mark.parametrize(
    "location",
    [
        "http://example.com/p/Templates/k.zip",  # plain HTTP off this machine
        "ftp://127.0.0.1/k.zip",
        "file:///etc/passwd",
    ],
)
def test_only_https_links_leave_the_machine(monkeypatch, tmp_path: Path, location: str) -> None:
    monkeypatch.setenv(names.ARTIFACTS_VARIABLE, json.dumps({"Templates": location}))
    with pytest.raises(jobs.JobError, match="not an s3://bucket/key or https:// location"):
        jobs.materialize("Templates::x", tmp_path)
