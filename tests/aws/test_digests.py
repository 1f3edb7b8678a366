from __future__ import annotations

import pytest

from pipelines.aws import digests
from pipelines.aws.errors import BadInput

FULL = "sha256:" + "0123456789abcdef" * 4


def test_parse_accepts_full_digests_and_prefixes() -> None:
    assert digests.parse(FULL) == FULL
    assert digests.parse(" SHA256:0123456789AB ") == "sha256:0123456789ab"
    assert digests.parse("0123456789ab") == "sha256:0123456789ab"
    for bad in ("sha256:0123456789a", "latest", "sha256:" + "0" * 65, "sha256:xyz123456789"):
        with pytest.raises(BadInput):
            digests.parse(bad)


def test_resolve_needs_exactly_one_match() -> None:
    other = "sha256:0123456789ab" + "f" * 52
    assert digests.resolve("sha256:0123456789abcdef", [FULL, other], "x") == FULL
    assert digests.resolve("sha256:ffffffffffff", [FULL, other], "x") is None
    with pytest.raises(BadInput, match="ambiguous"):
        digests.resolve("sha256:0123456789ab", [FULL, other], "x")


def test_of_image_and_short() -> None:
    assert digests.of_image(f"registry/repo@{FULL}") == FULL
    assert digests.of_image("registry/repo:latest") is None
    assert digests.short(FULL) == "sha256:0123456789ab"
