"""IAM: the inline policies of one role total at most 10,240 characters, white space not counted."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pipelines.conformance.model import Finding, Rule, StackTemplate
from pipelines.conformance.policy_text import iam_characters

LIMIT = 10_240
DOC = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"


def check(templates: Sequence[StackTemplate]) -> Iterable[Finding]:
    for stack in templates:
        for logical_id, role in stack.resources("AWS::IAM::Role"):
            policies = role.get("Properties", {}).get("Policies", [])
            sizes = {
                p.get("PolicyName", "?"): iam_characters(p.get("PolicyDocument"), stack)
                for p in policies
            }
            total = sum(sizes.values())
            if total > LIMIT:
                largest = max(sizes, key=lambda name: sizes[name])
                yield RULE.finding(
                    stack,
                    f"{logical_id}.Policies",
                    f"the role's inline policies total {total:,} characters; IAM allows "
                    f"{LIMIT:,} per role (the largest, {largest}, is {sizes[largest]:,})",
                )


RULE = Rule(
    "iam-role-inline-policies-size",
    "a role's inline policies total at most 10,240 characters",
    DOC,
    check,
)
