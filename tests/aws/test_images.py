"""The verbs with several images (tests/fixtures/valid/two-images): `--image NAME` picks the
pipeline, repository and services they act on; it is required when there are several images,
and refused with one; `status` without it shows every image."""

from __future__ import annotations

import json

import pytest

from pipelines.aws.errors import BadInput
from pipelines.aws.manifest import load_manifest
from tests.aws.stubs import NOW, TOOLCHAIN, StubbedClients, digest
from tests.aws.workspace import Workspace
from tests.support import FIXTURES

DEV, PROD = ("222222222222", "eu-west-1"), ("333333333333", "eu-west-1")
D = digest("4")


@pytest.fixture
def two_images(tmp_path) -> Workspace:
    return Workspace.from_example(FIXTURES / "valid" / "two-images", tmp_path)


def _pipeline_not_found(stubbed: StubbedClients, pipeline: str) -> None:
    stubbed.codepipeline().add_client_error(
        "get_pipeline_state",
        service_error_code="PipelineNotFoundException",
        service_message=f"no pipeline with the name '{pipeline}'",
        http_status_code=400,
        expected_params={"name": pipeline},
    )


def _not_deployed(stubbed: StubbedClients, *stacks: tuple[tuple[str, str], str]) -> None:
    for home, name in stacks:
        stubbed.stub("cloudformation", *home).add_client_error(
            "describe_stacks",
            service_error_code="ValidationError",
            service_message=f"Stack with id {name} does not exist",
            http_status_code=400,
            expected_params={"StackName": name},
        )


def _worker_not_deployed(stubbed: StubbedClients) -> None:
    _pipeline_not_found(stubbed, "shop-worker-release")
    _not_deployed(
        stubbed,
        (DEV, "shop-dev-worker"),
        (DEV, "shop-staging-worker"),
        (PROD, "shop-prod-worker"),
    )


@pytest.mark.parametrize(
    "verb",
    [
        ["release", "--digest", D],
        ["approve", "prod", "--digest", D],
        ["reject", "prod", "--digest", D],
        ["rollback", "prod", "--yes"],
    ],
    ids=lambda v: v[0],
)
def test_with_several_images_a_verb_needs_image(
    verb: list[str], stubbed: StubbedClients, two_images: Workspace
) -> None:
    result = two_images.run(*verb)
    assert result.exit_code == 2, result.output
    assert "shop has several images: pass --image NAME (one of web, worker)" in result.output
    result = two_images.run(*verb, "--image", "wroker")
    assert result.exit_code == 2, result.output
    assert "no image 'wroker'" in result.output and "did you mean 'worker'?" in result.output


def test_with_one_image_image_is_refused(stubbed: StubbedClients, workspace: Workspace) -> None:
    result = workspace.run("release", "--digest", D, "--image", "web")
    assert result.exit_code == 2, result.output
    assert "shop has one image (shop-web), and --image is only for an app of several" in (
        result.output
    )


def test_release_starts_only_the_named_images_pipeline_from_its_repository(
    stubbed: StubbedClients, two_images: Workspace
) -> None:
    stubbed.stub("ecr", *TOOLCHAIN).add_response(
        "describe_images",
        {
            "imageDetails": [
                {
                    "registryId": "111111111111",
                    "repositoryName": "shop-worker",
                    "imageDigest": D,
                    "imageTags": ["worker-release"],
                    "imagePushedAt": NOW,
                }
            ]
        },
        {"repositoryName": "shop-worker", "imageIds": [{"imageDigest": D}]},
    )
    stubbed.codepipeline().add_response(
        "start_pipeline_execution",
        {"pipelineExecutionId": "c0ffee00-1111-4222-8333-444455556666"},
        {
            "name": "shop-worker-release",
            "sourceRevisions": [
                {"actionName": "Image", "revisionType": "IMAGE_DIGEST", "revisionValue": D}
            ],
        },
    )
    result = two_images.run("release", "--image", "worker", "--digest", D)
    assert result.exit_code == 0, result.output
    assert "of shop-worker-release for shop-worker@" in result.output


def test_status_of_one_image_reads_only_its_pipeline_and_services(
    stubbed: StubbedClients, two_images: Workspace
) -> None:
    _worker_not_deployed(stubbed)
    result = two_images.run("status", "--image", "worker", "--output", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert (document["image"], document["pipeline"]) == ("worker", "shop-worker-release")
    assert [[s["service"] for s in e["services"]] for e in document["environments"]] == [
        ["worker"]
    ] * 3


def test_status_without_image_shows_every_image(
    stubbed: StubbedClients, two_images: Workspace
) -> None:
    _pipeline_not_found(stubbed, "shop-web-release")
    _not_deployed(
        stubbed,
        (DEV, "shop-dev-admin"),
        (DEV, "shop-dev-web"),
        (DEV, "shop-staging-admin"),
        (DEV, "shop-staging-web"),
        (PROD, "shop-prod-admin"),
        (PROD, "shop-prod-web"),
    )
    _worker_not_deployed(stubbed)
    result = two_images.run("status")
    assert result.exit_code == 0, result.output
    assert "pipeline shop-web-release" in result.output
    assert "pipeline shop-worker-release" in result.output
    assert result.output.index("shop-web-release") < result.output.index("shop-worker-release")


def test_the_manifest_says_which_pipeline_deploys_which_services(two_images: Workspace) -> None:
    manifest = load_manifest(two_images.templates)
    assert manifest.image_names == ["web", "worker"]
    assert manifest.pipeline == ""  # nothing to act on until an image is picked
    worker = manifest.for_image("worker")
    assert (worker.pipeline, worker.repository, worker.release_tag) == (
        "shop-worker-release",
        "shop-worker",
        "worker-release",
    )
    assert worker.bootstrap is not None and worker.bootstrap.startswith("public.ecr.aws/")
    assert [e.name for e in worker.service_stacks("prod")] == ["shop-prod-worker"]
    assert worker.service_actions(worker.stages["prod"], "web", frozenset({"apply"})) == set()
    assert worker.service_actions(worker.stages["prod"], "worker", frozenset({"apply"})) == {
        "Apply-worker"
    }
    web = manifest.for_image("web")
    assert [e.name for e in web.service_stacks("dev")] == ["shop-dev-admin", "shop-dev-web"]
    # Every stack is still deployed and destroyed: picking an image filters only service stacks.
    assert len(manifest.stacks) == 18  # with the toolchain runner and three environment runners
    assert {e.name for e in manifest.stacks} - {e.name for e in web.stacks} == {
        "shop-dev-worker",
        "shop-staging-worker",
        "shop-prod-worker",
    }
    with pytest.raises(BadInput, match="pass --image NAME"):
        manifest.for_image(None)


def test_each_service_stack_records_its_own_images_bootstrap(two_images: Workspace) -> None:
    from pipelines.aws.stackplan import own_bootstrap

    manifest = load_manifest(two_images.templates)
    worker = manifest.stack("shop-dev-worker")
    assert own_bootstrap(worker) == manifest.for_image("worker").bootstrap
    assert own_bootstrap(manifest.stack("shop-dev-web")) is None  # web has no bootstrap


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")
def test_deploy_and_destroy_cover_every_images_repository_and_pipeline(aws, tmp_path) -> None:
    """Against moto: deploy creates every stack of both images in its waves, and destroy
    removes them all, lists both repositories as retained and, with --include-retained, deletes
    both."""
    from tests.aws.recorder import BOOTSTRAP_DIGEST
    from tests.aws.workspace import stack

    workspace = Workspace.from_example(FIXTURES / "valid" / "two-images", tmp_path)
    workspace.standins(aws)
    bootstrap = f"111111111111.dkr.ecr.eu-west-1.amazonaws.com/shop-web@{BOOTSTRAP_DIGEST}"
    result = workspace.run("deploy", "--yes", "--bootstrap-image", bootstrap)
    assert result.exit_code == 0, result.output
    assert all(stack(aws, entry) is not None for entry in workspace.entries())
    ecr = aws.client("ecr", *TOOLCHAIN)
    names = {r["repositoryName"] for r in ecr.describe_repositories()["repositories"]}
    assert names == {"shop-web", "shop-worker"}

    result = workspace.run("destroy", "--yes")
    assert result.exit_code == 0, result.output
    assert all(stack(aws, entry) is None for entry in workspace.entries())
    assert "ECR repository shop-web (shop-source Repository;" in result.output
    assert "ECR repository shop-worker (shop-source RepositoryWorker;" in result.output
    later = workspace.run("destroy", "--yes", "--include-retained")
    assert later.exit_code == 0, later.output
    assert ecr.describe_repositories()["repositories"] == []
