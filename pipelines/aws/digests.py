"""Image digests as people type them: `sha256:<64 hex>`, or a unique prefix of 12 or more."""

from __future__ import annotations

import re
from collections.abc import Iterable

from pipelines import patterns
from pipelines.aws.errors import BadInput

PREFIX = "sha256:"
MIN_PREFIX = 12
_HEX = re.compile(r"^[0-9a-f]+$")
_FULL = re.compile(patterns.DIGEST)


def parse(text: str) -> str:
    """`sha256:` plus 12 to 64 lowercase hex digits; the `sha256:` may be left out."""
    value = text.strip().lower()
    hex_part = value.removeprefix(PREFIX)
    if not _HEX.match(hex_part) or not MIN_PREFIX <= len(hex_part) <= 64:
        raise BadInput(
            f"{text!r} is not an image digest: give sha256:<64 hex digits>, or at least the "
            f"first {MIN_PREFIX} hex digits of one"
        )
    return PREFIX + hex_part


def is_full(digest: str) -> bool:
    return bool(_FULL.fullmatch(digest))


def matches(given: str, digest: str) -> bool:
    """Whether `digest` is the digest `given` (parsed) names, in full or by prefix."""
    return digest.lower().startswith(given)


def resolve(given: str, candidates: Iterable[str], among: str) -> str | None:
    """The one candidate `given` names. None if none does; BadInput if several do."""
    found = sorted({c for c in candidates if matches(given, c)})
    if len(found) > 1:
        listed = ", ".join(short(d) for d in found[:5])
        raise BadInput(f"{given} is ambiguous among {among}: {listed}; give more hex digits")
    return found[0] if found else None


def of_image(uri: str) -> str | None:
    """The digest of an image URI pinned by digest, or None."""
    _, at, digest = uri.rpartition("@")
    return digest if at and is_full(digest) else None


def short(digest: str | None) -> str:
    """sha256: and the first 12 hex digits: enough to tell images apart in a table."""
    if not digest:
        return "-"
    return digest[: len(PREFIX) + MIN_PREFIX]
