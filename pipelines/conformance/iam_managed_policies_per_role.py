"""IAM: at most 10 managed policies attached to one role by default (raisable to 20)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pipelines.conformance.iam_role_inline_policies_size import DOC
from pipelines.conformance.model import Finding, Rule, StackTemplate

LIMIT = 10


def check(templates: Sequence[StackTemplate]) -> Iterable[Finding]:
    for stack in templates:
        for logical_id, role in stack.resources("AWS::IAM::Role"):
            count = len(role.get("Properties", {}).get("ManagedPolicyArns", []))
            if count > LIMIT:
                yield RULE.finding(
                    stack,
                    f"{logical_id}.ManagedPolicyArns",
                    f"{count} managed policies; IAM attaches at most {LIMIT} to a role by default",
                )


RULE = Rule("iam-managed-policies-per-role", "at most 10 managed policies per role", DOC, check)
