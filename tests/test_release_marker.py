"""The release marker's handler (pipelines/release_marker.py) on moto's ECR.

The repository is the example's `shop-source` stack, created by moto's CloudFormation, so the
marker moves tags under the template's own tag mutability settings. moto implements neither
PutJobSuccessResult nor PutJobFailureResult: CodePipeline's side is botocore's Stubber, which
checks each request against CodePipeline's API shapes.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from pipelines import naming, release_marker
from pipelines.local.rehearse import generated_image
from pipelines.synth import synthesize
from tests.support import EXAMPLE

REGION = "eu-west-1"
REPOSITORY = "shop-web"
JOB = "11111111-2222-3333-4444-555555555555"


@pytest.fixture
def ecr(fake_aws_credentials: None) -> Iterator[Any]:
    """moto's ECR holding the example's repository, created from its source template."""
    body = synthesize(EXAMPLE).files[naming.template_file(naming.source_stack("shop"))]
    with mock_aws():
        cfn = boto3.client("cloudformation", region_name=REGION)
        cfn.create_stack(StackName="shop-source", TemplateBody=body.decode())
        yield boto3.client("ecr", region_name=REGION)


@pytest.fixture
def codepipeline() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "codepipeline",
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def push(ecr: Any, seed: str) -> str:
    """A small generated image, tagged as a CI would push it; returns its digest."""
    image = ecr.put_image(
        repositoryName=REPOSITORY, imageManifest=generated_image(seed), imageTag=seed
    )
    return image["image"]["imageId"]["imageDigest"]


def event(digest: str, env: str, repository: str = REPOSITORY) -> dict[str, Any]:
    """CodePipeline's job event, with the UserParameters the pipeline builder writes."""
    request = {
        "repository": repository,
        "digest": digest,
        "tag": naming.deployed_tag(env),
        "previous": naming.previous_deployed_tag(env),
    }
    return {
        "CodePipeline.job": {
            "id": JOB,
            "accountId": "123456789012",
            "data": {
                "actionConfiguration": {
                    "configuration": {
                        "FunctionName": "shop-release-marker",
                        "UserParameters": json.dumps(request),
                    }
                }
            },
        }
    }


def tags(ecr: Any) -> dict[str, str]:
    """Every tag in the repository -> the digest it names."""
    images = ecr.describe_images(repositoryName=REPOSITORY)["imageDetails"]
    return {tag: image["imageDigest"] for image in images for tag in image.get("imageTags", [])}


def expect_success(stubber: Stubber, summary: str) -> None:
    stubber.add_response(
        "put_job_success_result", {}, {"jobId": JOB, "executionDetails": {"summary": summary}}
    )


def expect_failure(stubber: Stubber) -> None:
    stubber.add_response(
        "put_job_failure_result",
        {},
        {"jobId": JOB, "failureDetails": {"type": "JobFailed", "message": ANY}},
    )


def failure_message(client: Any) -> list[str]:
    """Collects the message of every PutJobFailureResult the client is asked to send."""
    messages: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        messages.append(params["failureDetails"]["message"])

    client.meta.events.register("provide-client-params.codepipeline.PutJobFailureResult", record)
    return messages


def test_the_first_release_tags_its_digest_deployed_env(ecr, codepipeline) -> None:
    client, stubber = codepipeline
    first = push(ecr, "build-1")
    expect_success(stubber, f"deployed-dev: {first}")

    release_marker.handler(event(first, "dev"), None, ecr=ecr, codepipeline=client)

    assert tags(ecr) == {"build-1": first, "deployed-dev": first}


def test_the_next_release_moves_the_tag_and_the_old_digest_becomes_previous(
    ecr, codepipeline
) -> None:
    client, stubber = codepipeline
    first, second, third = (push(ecr, f"build-{n}") for n in (1, 2, 3))
    expect_success(stubber, f"deployed-dev: {first}")
    expect_success(stubber, f"deployed-dev: {second}; deployed-dev-previous: {first}")
    expect_success(stubber, f"deployed-dev: {third}; deployed-dev-previous: {second}")

    release_marker.handler(event(first, "dev"), None, ecr=ecr, codepipeline=client)
    release_marker.handler(event(second, "dev"), None, ecr=ecr, codepipeline=client)
    assert tags(ecr)["deployed-dev"] == second
    assert tags(ecr)["deployed-dev-previous"] == first

    release_marker.handler(event(third, "dev"), None, ecr=ecr, codepipeline=client)
    found = tags(ecr)
    assert (found["deployed-dev"], found["deployed-dev-previous"]) == (third, second)
    # The first image keeps only the tag it was pushed with: the lifecycle policy may expire it.
    assert [t for t, d in found.items() if d == first] == ["build-1"]


def test_a_repeated_invocation_is_a_successful_no_op(ecr, codepipeline) -> None:
    client, stubber = codepipeline
    first, second = push(ecr, "build-1"), push(ecr, "build-2")
    expect_success(stubber, f"deployed-dev: {first}")
    expect_success(stubber, f"deployed-dev: {second}; deployed-dev-previous: {first}")
    release_marker.handler(event(first, "dev"), None, ecr=ecr, codepipeline=client)
    release_marker.handler(event(second, "dev"), None, ecr=ecr, codepipeline=client)
    before = tags(ecr)

    # Lambda delivers CodePipeline's asynchronous invocation again: the same job, same digest.
    expect_success(stubber, f"deployed-dev: {second}")
    release_marker.handler(event(second, "dev"), None, ecr=ecr, codepipeline=client)

    # deployed-dev-previous still names the first digest, not the second.
    assert tags(ecr) == before


def test_environments_move_only_their_own_tags(ecr, codepipeline) -> None:
    client, stubber = codepipeline
    first, second = push(ecr, "build-1"), push(ecr, "build-2")
    for _ in range(3):
        stubber.add_response("put_job_success_result", {}, {"jobId": JOB, "executionDetails": ANY})

    release_marker.handler(event(first, "dev"), None, ecr=ecr, codepipeline=client)
    release_marker.handler(event(first, "prod"), None, ecr=ecr, codepipeline=client)
    release_marker.handler(event(second, "dev"), None, ecr=ecr, codepipeline=client)

    found = tags(ecr)
    assert found["deployed-prod"] == first and "deployed-prod-previous" not in found
    assert (found["deployed-dev"], found["deployed-dev-previous"]) == (second, first)


def test_a_digest_not_in_the_repository_fails_the_job(ecr, codepipeline) -> None:
    client, stubber = codepipeline
    push(ecr, "build-1")
    missing = "sha256:" + "f" * 64
    messages = failure_message(client)
    expect_failure(stubber)

    release_marker.handler(event(missing, "dev"), None, ecr=ecr, codepipeline=client)

    [message] = messages
    assert missing in message and REPOSITORY in message
    assert "deployed-dev" not in tags(ecr)


def test_a_request_without_its_tags_fails_the_job(ecr, codepipeline) -> None:
    client, stubber = codepipeline
    broken = event(push(ecr, "build-1"), "dev")
    configuration = broken["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]
    configuration["UserParameters"] = json.dumps({"repository": REPOSITORY, "digest": "x"})
    messages = failure_message(client)
    expect_failure(stubber)

    release_marker.handler(broken, None, ecr=ecr, codepipeline=client)

    assert messages == ["KeyError('tag')"]


def test_a_tag_ecr_refuses_to_move_fails_the_job(fake_aws_credentials, codepipeline) -> None:
    """Without the `deployed-*` exclusion from tag immutability, the second release cannot
    move deployed-dev: the job fails rather than report a tag it did not move."""
    client, stubber = codepipeline
    with mock_aws():
        ecr = boto3.client("ecr", region_name=REGION)
        ecr.create_repository(
            repositoryName=REPOSITORY,
            imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
            imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "release"}],
        )
        first, second = push(ecr, "build-1"), push(ecr, "build-2")
        expect_success(stubber, f"deployed-dev: {first}")
        messages = failure_message(client)
        expect_failure(stubber)

        release_marker.handler(event(first, "dev"), None, ecr=ecr, codepipeline=client)
        release_marker.handler(event(second, "dev"), None, ecr=ecr, codepipeline=client)

        # ECR refuses with ImageTagAlreadyExistsException, moto with ImageAlreadyExistsException;
        # either way the marker checks which digest the tag names, and fails the job.
        assert len(messages) == 1
        assert tags(ecr)["deployed-dev"] == first


def test_lambda_calls_the_handler_with_the_event_alone(
    ecr, codepipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As Lambda calls it: handler(event, context), which makes its own boto3 clients."""
    client, stubber = codepipeline
    first = push(ecr, "build-1")
    made: list[str] = []

    def fake_client(service: str, **kwargs: Any) -> Any:
        made.append(service)
        return {"ecr": ecr, "codepipeline": client}[service]

    monkeypatch.setattr(boto3, "client", fake_client)
    expect_success(stubber, f"deployed-dev: {first}")

    release_marker.handler(event(first, "dev"), object())

    assert made == ["ecr", "codepipeline"]
    assert tags(ecr)["deployed-dev"] == first


def test_the_module_is_the_standard_library_and_boto3_imported_in_the_handler() -> None:
    source = Path(release_marker.__file__).read_text(encoding="utf-8")
    tree = ast.parse(source)
    top = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            top.add((node.module or "").split(".")[0])
    assert top <= set(sys.stdlib_module_names) | {"__future__"}, top
    nested = {
        a.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import) and node not in tree.body
        for a in node.names
    }
    assert nested == {"boto3"}
    code = (
        "import sys\n"
        "import pipelines.release_marker\n"
        "assert not {'boto3', 'botocore'} & set(sys.modules), sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
