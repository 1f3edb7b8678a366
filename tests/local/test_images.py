"""The rehearsal and the sandbox run one pipeline: an app of several images is refused with a
message saying so (docs/images.md), before anything is deployed."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.aws.errors import BadInput
from pipelines.aws.manifest import load_manifest
from pipelines.local.rehearse import RehearsalOptions, rehearse
from pipelines.local.sandbox import one_pipeline
from pipelines.render import write_atomically
from pipelines.synth import synthesize
from tests.support import EXAMPLE, FIXTURES

TWO_IMAGES = FIXTURES / "valid" / "two-images"


def test_the_rehearsal_refuses_several_images() -> None:
    with pytest.raises(BadInput, match="does not yet rehearse an app of several images"):
        rehearse(RehearsalOptions(TWO_IMAGES, "all", None, 1, None, None))


def test_the_sandbox_refuses_several_images_and_takes_one(tmp_path: Path) -> None:
    for config, out in ((TWO_IMAGES, tmp_path / "two"), (EXAMPLE, tmp_path / "one")):
        write_atomically(out, synthesize(config).files)
    with pytest.raises(BadInput, match=r"has `images` \(web, worker\)"):
        one_pipeline(load_manifest(tmp_path / "two"))
    one = load_manifest(tmp_path / "one")
    assert one_pipeline(one) is one
