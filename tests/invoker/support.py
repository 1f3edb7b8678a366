"""Fixture files and helpers shared by the runner tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.stub import Stubber
from moto import mock_aws
from moto.moto_api import state_manager

from pipelines.invoker.allowlist import (
    Admitted,
    RunRequest,
    admit,
    check_environment,
    parse_step,
    request_from_json,
)
from pipelines.invoker.document import RunnersDocument, load_document_file
from pipelines.invoker.handler import Runtime, handle_job
from pipelines.invoker.tasks import Started, check_release_image

RUNNER_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "runner"
RUNNERS_JSON = RUNNER_FIXTURES / "runners.json"
# The id of the CodePipeline job codepipeline_job makes, unless told another.
JOB_ID = "11111111-2222-3333-4444-555555555555"


def document() -> RunnersDocument:
    return load_document_file(RUNNERS_JSON)


def cases(name: str) -> list[dict[str, Any]]:
    return yaml.safe_load((RUNNER_FIXTURES / name).read_text(encoding="utf-8"))


def admit_case(doc: RunnersDocument, case: dict[str, Any]) -> Admitted:
    """What the invoker does with a request (or synth with a step), without AWS."""
    if "step" in case:
        return admit(doc.runners, parse_step(case["step"]))
    data = dict(case["request"])
    if "long" in case:
        data["args"] = [*data.get("args", []), "x" * case["long"]]
    request, environment, image = request_from_json(data)
    admitted = admit(doc.runners, request)
    if environment is not None:
        check_environment(environment, doc.known_environments)
    check_release_image(
        admitted.runner, doc.runners[admitted.runner].image, image, doc.release_repositories
    )
    return admitted


@contextlib.contextmanager
def moto_with_tasks_held(region: str) -> Iterator[None]:
    """moto, in `region` unless told otherwise, with ECS tasks that stay in the state a test
    puts them in."""
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        patch.setenv("AWS_DEFAULT_REGION", region)
        state_manager.set_transition("ecs::task", {"progression": "manual", "times": 10**9})
        try:
            yield
        finally:
            state_manager.unset_transition("ecs::task")


def codepipeline_job(
    user_parameters: str,
    *,
    token: str | None = None,
    artifacts: tuple[str, ...] = ("Templates",),
    credentials: dict[str, Any] | None = None,
    job_id: str = JOB_ID,
) -> dict[str, Any]:
    """A CodePipeline job for the invoker, as its Lambda action hands it over."""
    data: dict[str, Any] = {
        "actionConfiguration": {
            "configuration": {
                "FunctionName": "shop-runner-invoker",
                "UserParameters": user_parameters,
            }
        },
        "inputArtifacts": [
            {
                "name": name,
                "location": {
                    "type": "S3",
                    "s3Location": {"bucketName": "artifacts", "objectKey": f"p/{name}/k.zip"},
                },
            }
            for name in artifacts
        ],
        "outputArtifacts": [],
    }
    if credentials is not None:
        data["artifactCredentials"] = credentials
    if token:
        data["continuationToken"] = token
    return {"id": job_id, "accountId": "111111111111", "data": data}


def start_job(rt: Runtime, job: dict[str, Any]) -> Started:
    """The job's first call: the invoker starts the task and answers with a continuation."""
    rt.codepipeline.expect("put_job_success_result")
    handle_job(job, rt)
    name, call = rt.codepipeline.only_call()
    assert name == "PutJobSuccessResult", call
    return Started.from_token(call["continuationToken"])


def request(runner: str, script: str, *args: str, **sizes: Any) -> RunRequest:
    return RunRequest(runner=runner, script=script, args=tuple(args), **sizes)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Pipeline:
    """A CodePipeline client whose calls are validated against the real API model, answered
    by a Stubber, and recorded with the parameters the invoker sent."""

    def __init__(self, region: str = "eu-west-1") -> None:
        self.client = boto3.client("codepipeline", region_name=region)
        self.stub = Stubber(self.client)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.client.meta.events.register("provide-client-params.codepipeline.*", self._record)
        self.stub.activate()

    def __getattr__(self, name: str) -> Any:  # the invoker calls it like the client
        return getattr(self.client, name)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, dict(params)))

    def expect(self, operation: str) -> None:
        # Stubber checks the operation and botocore the parameters against the API model;
        # the parameters themselves are recorded and asserted by each test.
        self.stub.add_response(operation, {})

    def expect_closed(self, operation: str, code: str = "InvalidJobStateException") -> None:
        """CodePipeline's answer to a result for a job that already has one."""
        self.stub.add_client_error(operation, service_error_code=code, http_status_code=400)

    def only_call(self) -> tuple[str, dict[str, Any]]:
        self.stub.assert_no_pending_responses()
        assert len(self.calls) == 1, self.calls
        return self.calls.pop()
