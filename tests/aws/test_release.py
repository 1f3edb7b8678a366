"""`pipelines release` with botocore's Stubber: an image already in ECR, started by digest."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.aws.stubs import NOW, PIPELINE, REPOSITORY, TOOLCHAIN, StubbedClients, digest
from tests.aws.workspace import Workspace

OLD = digest("7")
OTHER = "sha256:" + "7" * 12 + "8" * 52  # shares OLD's first 12 hex digits


def _image_detail(d: str, tags: list[str]) -> dict[str, Any]:
    return {
        "imageDetails": [
            {
                "registryId": "111111111111",
                "repositoryName": REPOSITORY,
                "imageDigest": d,
                "imageTags": tags,
                "imageSizeInBytes": 48_213_004,
                "imagePushedAt": NOW - timedelta(days=3),
                "imageManifestMediaType": "application/vnd.oci.image.manifest.v1+json",
                "artifactMediaType": "application/vnd.oci.image.config.v1+json",
            }
        ]
    }


def _expect_describe(stubbed: StubbedClients, d: str) -> None:
    stubbed.stub("ecr", *TOOLCHAIN).add_response(
        "describe_images",
        _image_detail(d, ["v1.4.2"]),
        {"repositoryName": REPOSITORY, "imageIds": [{"imageDigest": d}]},
    )


def _expect_start(stubbed: StubbedClients, d: str) -> None:
    stubbed.codepipeline().add_response(
        "start_pipeline_execution",
        {"pipelineExecutionId": "c0ffee00-1111-4222-8333-444455556666"},
        {
            "name": PIPELINE,
            "sourceRevisions": [
                {"actionName": "Image", "revisionType": "IMAGE_DIGEST", "revisionValue": d}
            ],
        },
    )


def test_release_an_image_by_digest(stubbed: StubbedClients, workspace: Workspace) -> None:
    _expect_describe(stubbed, OLD)
    _expect_start(stubbed, OLD)
    result = workspace.run("release", "--digest", OLD)
    assert result.exit_code == 0, result.output
    assert "started execution c0ffee00-1111-4222-8333-444455556666 of shop-release" in result.output
    assert f"shop-web@{OLD} (v1.4.2; pushed 2025-03-11 09:30 UTC)" in result.output


def test_release_by_a_unique_prefix(stubbed: StubbedClients, workspace: Workspace) -> None:
    ecr = stubbed.stub("ecr", *TOOLCHAIN)
    listing = {
        "imageIds": [
            {"imageDigest": OLD, "imageTag": "v1.4.2"},
            {"imageDigest": OTHER, "imageTag": "v1.5.0"},
            {"imageDigest": digest("9"), "imageTag": "release"},
        ]
    }
    ecr.add_response("list_images", listing, {"repositoryName": REPOSITORY})
    result = workspace.run("release", "--digest", OLD[:19])
    assert result.exit_code == 2
    assert "is ambiguous among repository shop-web" in result.output

    ecr.add_response("list_images", listing, {"repositoryName": REPOSITORY})
    _expect_describe(stubbed, OLD)
    _expect_start(stubbed, OLD)
    result = workspace.run("release", "--digest", OLD[:20])
    assert result.exit_code == 0, result.output


def test_release_of_an_image_not_in_ecr_is_refused(
    stubbed: StubbedClients, workspace: Workspace
) -> None:
    stubbed.stub("ecr", *TOOLCHAIN).add_client_error(
        "describe_images",
        service_error_code="ImageNotFoundException",
        service_message=f"The image with imageId {{imageDigest:'{OLD}'}} does not exist within "
        "the repository with name 'shop-web' in the registry with id '111111111111'",
        http_status_code=400,
    )
    result = workspace.run("release", "--digest", OLD)
    assert result.exit_code == 2
    assert f"no image {OLD} in repository shop-web (111111111111, eu-west-1)" in result.output
    # start_pipeline_execution was never queued, so it was never called.

    bad = workspace.run("release", "--digest", "release")
    assert bad.exit_code == 2 and "is not an image digest" in bad.output


def test_access_denied_names_the_action_and_the_role(
    stubbed: StubbedClients, workspace: Workspace
) -> None:
    _expect_describe(stubbed, OLD)
    stubbed.codepipeline().add_client_error(
        "start_pipeline_execution",
        service_error_code="AccessDeniedException",
        service_message="User: arn:aws:sts::111111111111:assumed-role/release/alice is not "
        "authorized to perform: codepipeline:StartPipelineExecution on resource: "
        "arn:aws:codepipeline:eu-west-1:111111111111:shop-release",
        http_status_code=400,
    )
    result = workspace.run("release", "--digest", OLD)
    assert result.exit_code == 1
    assert result.output.startswith(
        "error: access denied (account 111111111111, eu-west-1, as "
        "arn:aws:sts::111111111111:assumed-role/release/alice): StartPipelineExecution was "
        "refused: User: "
    )
    assert "codepipeline:StartPipelineExecution" in result.output
    assert "Traceback" not in result.output
