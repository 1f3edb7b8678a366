"""A rule that caps one policy property of one resource type: the shape most quota rules share."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pipelines.conformance.model import Finding, Rule, StackTemplate
from pipelines.conformance.policy_text import iam_characters, utf8_bytes

Measure = Callable[[Any, StackTemplate], int]
UNITS: dict[str, Measure] = {"characters": iam_characters, "bytes": utf8_bytes}


def policy_size_rule(
    rule_id: str, doc: str, resource_type: str, prop: str, limit: int, unit: str, hint: str
) -> Rule:
    """A rule: `prop` of every `resource_type` is at most `limit` `unit` once resolved."""
    measure = UNITS[unit]

    def check(templates: Sequence[StackTemplate]) -> Iterable[Finding]:
        for stack in templates:
            for logical_id, resource in stack.resources(resource_type):
                document = resource.get("Properties", {}).get(prop)
                if document is None:
                    continue
                size = measure(document, stack)
                if size > limit:
                    yield rule.finding(
                        stack,
                        f"{logical_id}.{prop}",
                        f"the policy is {size:,} {unit}; AWS allows {limit:,} {unit} ({hint})",
                    )

    rule = Rule(rule_id, f"{resource_type} {prop} within {limit:,} {unit}", doc, check)
    return rule
