"""The rehearsal and the sandbox with several images (tests/fixtures/valid/two-images): each
image's pipeline runs in the sandbox, started only by a push to its own repository; a rehearsal
releases one image (`--image`) and checks that the other images' services were left alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.aws.errors import OK, BadInput
from pipelines.local.rehearse import RehearsalOptions, rehearse
from tests.local.test_rehearse import MOTO_WARNINGS
from tests.support import EXAMPLE, FIXTURES

pytestmark = MOTO_WARNINGS
TWO_IMAGES = FIXTURES / "valid" / "two-images"
SERVICES = {"web": {"admin", "web"}, "worker": {"worker"}}


def test_the_rehearsal_of_several_images_needs_image() -> None:
    with pytest.raises(BadInput, match=r"pass --image NAME \(one of web, worker\)"):
        rehearse(RehearsalOptions(TWO_IMAGES, "all"))
    with pytest.raises(BadInput, match="--image wroker: no such image"):
        rehearse(RehearsalOptions(TWO_IMAGES, "all", image="wroker"))
    with pytest.raises(BadInput, match="images: none: it has one `image`"):
        rehearse(RehearsalOptions(EXAMPLE, "all", image="web"))


@pytest.mark.slow
def test_each_image_is_released_on_its_own_in_one_sandbox(tmp_path: Path) -> None:
    """web's release reaches only web's services; worker's, afterwards in the same sandbox,
    reaches only worker's and leaves web's on web's release."""
    from pipelines.local.sandbox import SandboxOptions, open_sandbox

    with open_sandbox(SandboxOptions(TWO_IMAGES, tmp_path / "templates")) as sandbox:
        url = sandbox.endpoint
        web = rehearse(RehearsalOptions(TWO_IMAGES, "all", endpoint_url=url, image="web"))
        worker = rehearse(RehearsalOptions(TWO_IMAGES, "all", endpoint_url=url, image="worker"))
        executions = {
            name: sandbox.clients.client(
                "codepipeline", "111111111111", "eu-west-1"
            ).list_pipeline_executions(pipelineName=name)["pipelineExecutionSummaries"]
            for name in ("shop-web-release", "shop-worker-release")
        }

    [web_digest], [worker_digest] = web.digests, worker.digests
    assert web_digest != worker_digest != sandbox.bootstrap
    for result, image, digest in ((web, "web", web_digest), (worker, "worker", worker_digest)):
        assert result.exit_code == OK
        assert result.meant == ["dev", "staging", "prod"]
        assert {item.service for item in result.live} == SERVICES[image]
        assert {(i.parameter, i.running) for i in result.live} == {(digest, digest)}
        assert result.tags == {f"deployed-{env}": digest for env in result.meant}
    # While web was released, worker's services stayed on the bootstrap; while worker was,
    # web's stayed on web's release.
    assert {item.service for item in web.others} == {"worker"}
    assert {(i.parameter, i.running) for i in web.others} == {
        (sandbox.bootstrap, sandbox.bootstrap)
    }
    assert {item.service for item in worker.others} == {"admin", "web"}
    assert {(i.parameter, i.running) for i in worker.others} == {(web_digest, web_digest)}
    # Each push started its own pipeline only, once.
    assert {name: len(found) for name, found in executions.items()} == {
        "shop-web-release": 1,
        "shop-worker-release": 1,
    }


@pytest.mark.slow
def test_the_cli_rehearses_one_image_and_shows_the_others_untouched() -> None:
    from click.testing import CliRunner

    from pipelines.cli import main

    result = CliRunner().invoke(
        main,
        ["rehearse", "--environments", str(TWO_IMAGES), "--approve", "all", "--image", "worker"],
    )
    assert result.exit_code == 0, result.output
    assert "rehearsing shop-worker-release" in result.output
    others = result.output.split("the other images' services", 1)[1].split("\n\n", 1)[0]
    assert others.count("(bootstrap)") == 6  # admin and web in dev, staging and prod


def test_sandbox_push_of_several_images_needs_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.local.sandbox import push_to_sandbox
    from pipelines.render import write_atomically
    from pipelines.synth import synthesize

    write_atomically(tmp_path, synthesize(TWO_IMAGES).files)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # never reached
    with pytest.raises(BadInput, match=r"pass --image NAME \(one of web, worker\)"):
        push_to_sandbox(tmp_path)
