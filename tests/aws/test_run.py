"""`pipelines run`: --describe, local refusal before any AWS call, and the job followed to its
exit code through a Lambda client stubbed with botocore's Stubber."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from click.testing import CliRunner

from pipelines import cli, console
from pipelines.aws import run
from tests.invoker.fixture_runners import RELEASE_IMAGE
from tests.invoker.support import RUNNERS_JSON

TASK = "arn:aws:ecs:eu-west-1:111111111111:task/shop-runner/0123456789abcdef0123456789abcdef"
START = {
    "ok": True,
    "task": TASK,
    "runner": "migrate",
    "script": "migrate",
    "logGroup": "/pipelines/shop/runner",
    "logStream": "migrate/job/0123456789abcdef0123456789abcdef",
    "logs": "https://eu-west-1.console.aws.amazon.com/cloudwatch/home#logsV2:x",
    "deadline": 0,
    "maxWaitMinutes": 30,
}


def _status(stopped: bool, messages: list[str], token: str, exit_code: int | None = None) -> dict:
    return {
        "ok": True,
        "status": "STOPPED" if stopped else "RUNNING",
        "stopped": stopped,
        "exitCode": exit_code,
        "stopReason": "Essential container in task exited" if stopped else "",
        "events": [{"timestamp": 1, "message": m} for m in messages],
        "logToken": token,
    }


class Lambda:
    """A real botocore Lambda client with canned answers from the invoker."""

    def __init__(self) -> None:
        self.client = boto3.client("lambda", region_name="eu-west-1")
        self.stub = Stubber(self.client)
        self.sent: list[dict[str, Any]] = []
        self.client.meta.events.register("provide-client-params.lambda.Invoke", self._record)
        self.stub.activate()

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        self.sent.append(json.loads(params["Payload"]))

    def answer(self, body: dict, function_error: bool = False) -> None:
        data = json.dumps(body).encode()
        response: dict[str, Any] = {
            "StatusCode": 200,
            "Payload": StreamingBody(io.BytesIO(data), len(data)),
        }
        if function_error:
            response["FunctionError"] = "Unhandled"
        self.stub.add_response(
            "invoke",
            response,
            {
                "FunctionName": "shop-runner-invoker",
                "InvocationType": "RequestResponse",
                "Payload": _ANY_BYTES,
            },
        )


class _AnyBytes:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, bytes)

    def __repr__(self) -> str:
        return "<any bytes>"


_ANY_BYTES = _AnyBytes()


@pytest.fixture
def lam(monkeypatch: pytest.MonkeyPatch) -> Lambda:
    stubbed = Lambda()

    def invoker(function: str, region: str | None) -> run.Invoke:
        assert (function, region) == ("shop-runner-invoker", "eu-west-1")
        return run.invoker_from_client(stubbed.client, function)

    monkeypatch.setattr(run, "lambda_invoker", invoker)
    monkeypatch.setattr(run, "POLL_SECONDS", 0)
    monkeypatch.setattr(run, "DRAIN_SECONDS", 0)
    return stubbed


def _run(*args: str) -> Any:
    return CliRunner().invoke(cli.main, ["run", "--runners", str(RUNNERS_JSON), *args])


def _run_release(capsys: pytest.CaptureFixture[str], **options: Any) -> tuple[int, str]:
    """`pipelines run` of migrate (a runner of the release image) with the image being
    promoted: run_command directly, as the CLI has no --image option yet."""
    arguments: dict[str, Any] = {
        "runner": "migrate",
        "script": "migrate",
        "args": (),
        "environment": None,
        "cpu": None,
        "memory": None,
        "max_wait": None,
        "no_wait": False,
        "describe_only": False,
        "runners_file": RUNNERS_JSON,
        "image": RELEASE_IMAGE,
    }
    code = console.run_command(**{**arguments, **options})
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_describe_lists_runners_scripts_and_options() -> None:
    result = _run("--describe")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "migrate  (on ecs; up to cpu 1024, memory 4096 MiB, wait 30m; image release)" in out
    assert "  migrate: python manage.py migrate\n    always passed: --noinput\n" in out
    assert "    --database VALUE matching [a-z]{1,20}\n" in out
    assert "    --plan (flag)\n" in out
    assert "    positional arguments matching [a-z_]{1,40}\n" in out
    assert "  showmigrations: python manage.py showmigrations\n    (takes no arguments)\n" in out
    assert "cloudformation-applier  (on ecs;" in out


def test_a_missing_runners_document_says_what_to_do(tmp_path) -> None:
    result = CliRunner().invoke(
        cli.main, ["run", "--describe", "--runners", str(tmp_path / "none.json")]
    )
    assert result.exit_code == 2
    assert "run `pipelines synth` or pass --runners FILE" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["migrate", "migrate", "--database", "x;y"], "does not match its pattern"),
        (["migrate", "migrate", "--cpu", "4096"], "cpu 4096 is above the maximum of 1024"),
        (["migrate", "migrate", "--max-wait", "2h"], "above the maximum of 30"),
        (["migrate", "migrate", "--env", "qa"], "unknown environment 'qa'"),
        (["migrate", "migrate", "--", "--env", "prod"], "option '--env' is not allowed"),
        (["migrate", "migrate", "-h"], "short option '-h' is not allowed"),
        (["migrate", "migrate"], "runs the release image: the request needs `image`"),
        (["nope", "plan"], "unknown runner 'nope'"),
        (["smoke", "check"], "runs on CodeBuild"),
        (["migrate"], "name a RUNNER and a SCRIPT"),
    ],
)
def test_invalid_input_is_refused_before_any_aws_call(
    monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    def no_aws(*_: Any) -> None:
        raise AssertionError("an AWS client was made")

    monkeypatch.setattr(run, "lambda_invoker", no_aws)
    result = _run(*args)
    assert result.exit_code == 2
    assert message in result.output


def test_a_local_refusal_does_not_even_import_boto3() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from pipelines import cli\n"
        f"r = CliRunner().invoke(cli.main, ['run', '--runners', {str(RUNNERS_JSON)!r}, "
        "'migrate', 'migrate', '--database', '$(id)'])\n"
        "assert r.exit_code == 2, r.output\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_bad_duration_is_a_usage_error() -> None:
    result = _run("migrate", "migrate", "--max-wait", "90")
    assert result.exit_code == 2
    assert "'90' is not a duration like 90m, 2h or 30s" in result.output


@pytest.mark.parametrize(
    ("text", "minutes"), [("90m", 90), ("2h", 120), ("30s", 1), ("1h30m", 90), ("61s", 2)]
)
def test_durations(text: str, minutes: int) -> None:
    assert run.parse_duration(text) == minutes


@pytest.mark.parametrize("text", ["", "m", "90", "1.5h", "-5m", "0m", "2d"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(run.DurationError):
        run.parse_duration(text)


def test_a_job_is_followed_to_its_exit_code(lam: Lambda, capsys) -> None:
    lam.answer(START)
    lam.answer(_status(False, ["Operations to perform:"], "f/1"))
    lam.answer(_status(True, ["  Applying app_one.0001... OK"], "f/2", exit_code=0))
    lam.answer(_status(True, ["last line, ingested late"], "f/3", exit_code=0))
    code, output = _run_release(
        capsys,
        args=("--database", "default", "app_one"),
        environment="prod",
        cpu=512,
        memory=1024,
        max_wait="10m",
    )
    assert code == 0, output
    assert output.splitlines() == [
        f"started migrate.migrate as {TASK}",
        f"logs: {START['logs']}",
        "Operations to perform:",
        "  Applying app_one.0001... OK",
        "last line, ingested late",
    ]
    # Status calls name the environment too: the invoker follows the task where it runs.
    assert lam.sent == [
        {
            "action": "start",
            "runner": "migrate",
            "script": "migrate",
            "args": ["--database", "default", "app_one"],
            "environment": "prod",
            "cpu": 512,
            "memory": 1024,
            "max_wait_minutes": 10,
            "image": RELEASE_IMAGE,
        },
        {"action": "status", "task": TASK, "logToken": None, "environment": "prod"},
        {"action": "status", "task": TASK, "logToken": "f/1", "environment": "prod"},
        {"action": "status", "task": TASK, "logToken": "f/2", "environment": "prod"},
    ]
    lam.stub.assert_no_pending_responses()


def test_a_job_without_an_environment_polls_without_one(lam: Lambda) -> None:
    lam.answer(START)
    lam.answer(_status(True, ["hi"], "f/1", exit_code=0))
    lam.answer(_status(True, [], "f/1", exit_code=0))
    result = _run("echo", "args", "hi")
    assert result.exit_code == 0, result.output
    assert lam.sent[1] == {"action": "status", "task": TASK, "logToken": None}


def test_the_exit_status_is_the_jobs(lam: Lambda, capsys) -> None:
    lam.answer(START)
    lam.answer(_status(True, ["boom"], "f/1", exit_code=3))
    lam.answer(_status(True, [], "f/1", exit_code=3))
    code, output = _run_release(capsys)
    assert code == 3
    assert "error: the job exited with 3" in output


def test_no_wait_returns_once_started(lam: Lambda) -> None:
    lam.answer(START)
    result = _run("echo", "args", "hi", "--no-wait")
    assert result.exit_code == 0
    assert [p["action"] for p in lam.sent] == ["start"]


def test_past_the_max_wait_the_cli_stops_the_task(lam: Lambda, monkeypatch, capsys) -> None:
    ticks = iter([0.0, 11 * 60.0])
    monkeypatch.setattr(run.time, "monotonic", lambda: next(ticks))
    lam.answer(START)
    lam.answer(_status(False, [], "f/0"))
    lam.answer({"ok": True})
    code, output = _run_release(capsys, max_wait="10m", environment="staging")
    assert code == run.EXIT_TIMED_OUT, output
    assert lam.sent[-1] == {
        "action": "stop",
        "task": TASK,
        "reason": "max wait exceeded",
        "environment": "staging",
    }


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (RELEASE_IMAGE.replace("shop-web", "shop-admin"), "is not 111111111111.dkr.ecr"),
        # Not even an image by digest: refused as the invoker refuses it, before the repository.
        (RELEASE_IMAGE.upper(), "is not registry/repository@sha256:<64 lowercase hex digits>"),
        (
            RELEASE_IMAGE.split("@")[0] + ":latest",
            "is not registry/repository@sha256:<64 lowercase hex digits>",
        ),
    ],
)
def test_a_wrong_release_image_is_refused_locally(
    monkeypatch: pytest.MonkeyPatch, capsys, image: str, message: str
) -> None:
    monkeypatch.setattr(run, "lambda_invoker", lambda *_: pytest.fail("an AWS client was made"))
    code, output = _run_release(capsys, image=image)
    assert code == run.EXIT_REFUSED
    assert message in output


def test_the_invokers_refusal_and_failure(lam: Lambda) -> None:
    lam.answer({"ok": False, "refused": "unknown environment 'prod'; known: dev"})
    result = _run("echo", "args", "hi")
    assert result.exit_code == 2
    assert "error: refused: unknown environment 'prod'; known: dev" in result.output
    lam.answer({"errorMessage": "Task timed out"}, function_error=True)
    result = _run("echo", "args", "hi")
    assert result.exit_code == 1
    assert "the invoker shop-runner-invoker failed" in result.output


@pytest.mark.parametrize("repository", ["shop-web", "shop-worker"])
def test_with_several_images_the_release_image_may_be_any_images(
    lam: Lambda, syntheses, tmp_path, repository: str
) -> None:
    runners = tmp_path / "runners.json"
    runners.write_bytes(syntheses["two-images"].files["runners.json"])
    image = f"111111111111.dkr.ecr.eu-west-1.amazonaws.com/{repository}@sha256:{'ab12' * 16}"
    lam.answer(START)
    arguments = ["run", "--runners", str(runners), "migrate", "migrate", "--env", "staging"]
    result = CliRunner().invoke(cli.main, [*arguments, "--image", image, "--no-wait"])
    assert result.exit_code == 0, result.output
    assert lam.sent[0]["image"] == image


def test_with_several_images_another_repository_is_refused_locally(syntheses, tmp_path) -> None:
    runners = tmp_path / "runners.json"
    runners.write_bytes(syntheses["two-images"].files["runners.json"])
    image = f"111111111111.dkr.ecr.eu-west-1.amazonaws.com/shop-admin@sha256:{'ab12' * 16}"
    arguments = ["run", "--runners", str(runners), "migrate", "migrate", "--env", "staging"]
    result = CliRunner().invoke(cli.main, [*arguments, "--image", image])
    assert result.exit_code == 2, result.output
    assert "shop-web or 111111111111.dkr.ecr.eu-west-1.amazonaws.com/shop-worker@sha256" in (
        result.output
    )
