"""EventBridge event patterns, matched as EventBridge matches them, for the patterns the
sandbox meets: the pipeline's trigger rule (exact values, nested fields).

moto stores rules but does not answer TestEventPattern, so the sandbox matches an ECR push's
event against the rule's pattern here. A pattern uses a content filter (prefix, anything-but,
numeric, exists, ...) that this does not interpret: `UnsupportedPattern` says which, rather than
a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class UnsupportedPattern(Exception):
    """The pattern uses a content filter the sandbox does not interpret."""


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Whether `event` matches `pattern`: every field the pattern names is in the event, with
    one of the values the pattern lists (a list in the event matches if any item does)."""
    for key, wanted in pattern.items():
        if key not in event:
            return False
        value = event[key]
        if isinstance(wanted, Mapping):
            if not isinstance(value, Mapping) or not matches(wanted, value):
                return False
        elif isinstance(wanted, list):
            if not _one_of(key, wanted, value):
                return False
        else:
            raise UnsupportedPattern(f"field {key}: {wanted!r} is not a list of values")
    return True


def _one_of(key: str, wanted: list[Any], value: Any) -> bool:
    filters = [w for w in wanted if isinstance(w, Mapping)]
    if filters:
        raise UnsupportedPattern(f"field {key}: content filter {filters[0]!r}")
    values = value if isinstance(value, list) else [value]
    return any(v in wanted for v in values)
