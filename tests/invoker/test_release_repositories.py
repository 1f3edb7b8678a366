"""An app of several images: runners.json lists each image's release repository, and the invoker
admits a `release` runner's image only as a digest of one of them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipelines.invoker.allowlist import Refused
from pipelines.invoker.document import DocumentError, dump_document, load_document
from pipelines.invoker.handler import admit_request
from tests.invoker import fixture_runners

REGISTRY = "111111111111.dkr.ecr.eu-west-1.amazonaws.com"
WEB, WORKER = f"{REGISTRY}/shop-web", f"{REGISTRY}/shop-worker"
DIGEST = "sha256:" + "ab12" * 16


def _text(**kwargs: Any) -> str:
    return dump_document("shop", fixture_runners.runner_data(), **kwargs)


def test_one_repository_is_written_as_before_and_several_as_a_list() -> None:
    one = json.loads(_text(release_repositories=(WEB,)))
    assert one["release_repository"] == WEB and "release_repositories" not in one
    assert _text(release_repositories=(WEB,)) == _text(release_repository=WEB)
    two = json.loads(_text(release_repositories=(WEB, WORKER)))
    assert two["release_repositories"] == [WEB, WORKER] and "release_repository" not in two
    loaded = load_document(_text(release_repositories=(WEB, WORKER)))
    assert loaded.release_repositories == (WEB, WORKER)
    assert loaded.release_repository == WEB


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"release_repository": WEB, "release_repositories": [WEB, WORKER]}, "not both"),
        ({"release_repositories": [WEB]}, "at least 2 entries"),
        ({"release_repositories": [WEB, f"{WORKER}:latest"]}, "release_repositories[1]: expected"),
    ],
)
def test_a_bad_list_of_release_repositories_is_refused(changes: dict, reason: str) -> None:
    data = json.loads(_text())
    data.update(changes)
    with pytest.raises(DocumentError, match=reason.replace("[", r"\[").replace("]", r"\]")):
        load_document(json.dumps(data))


def _request(image: str | None) -> dict[str, Any]:
    request: dict[str, Any] = {
        "runner": "migrate",
        "script": "migrate",
        "args": [],
        "environment": "staging",
    }
    if image is not None:
        request["image"] = image
    return request


def test_synths_runners_json_admits_a_digest_of_either_images_repository(syntheses) -> None:
    document = load_document(syntheses["two-images"].files["runners.json"].decode())
    for repository in (WEB, WORKER):
        admission = admit_request(document, _request(f"{repository}@{DIGEST}"))
        assert admission.image == f"{repository}@{DIGEST}"


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        (f"{REGISTRY}/shop-other@{DIGEST}", "is not " + WEB + " or " + WORKER + "@sha256"),
        (f"{REGISTRY}/shop-web-x@{DIGEST}", "is not"),
        (f"{WORKER}:worker-release", "is not"),
        (f"222222222222.dkr.ecr.eu-west-1.amazonaws.com/shop-web@{DIGEST}", "is not"),
        (None, "the request needs `image`"),
    ],
)
def test_synths_runners_json_admits_no_other_image(
    syntheses, image: str | None, reason: str
) -> None:
    document = load_document(syntheses["two-images"].files["runners.json"].decode())
    with pytest.raises(Refused) as raised:
        admit_request(document, _request(image))
    assert reason in str(raised.value)
