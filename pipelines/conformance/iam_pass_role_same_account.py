"""IAM: iam:PassRole passes a role of the caller's own account only."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pipelines.conformance.model import Finding, Rule, StackTemplate
from pipelines.conformance.policy_text import action_matches, as_list, resolved, role_statements


def check(templates: Sequence[StackTemplate]) -> Iterable[Finding]:
    for stack in templates:
        for logical_id, role in stack.resources("AWS::IAM::Role"):
            for statement in role_statements(role):
                actions = as_list(statement.get("Action", []))
                if statement.get("Effect") != "Allow" or not any(
                    action_matches(a, "iam:PassRole") for a in actions
                ):
                    continue
                for resource in as_list(resolved(statement.get("Resource", []), stack)):
                    parts = str(resource).split(":")
                    if len(parts) > 4 and parts[4] not in ("", "*", stack.account):
                        yield RULE.finding(
                            stack,
                            f"{logical_id}.Policies",
                            f"iam:PassRole on {resource}, a role of account {parts[4]}; a "
                            f"principal of {stack.account} can pass only its own account's roles",
                        )


RULE = Rule(
    "iam-pass-role-same-account",
    "iam:PassRole names roles of the role's own account",
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html",
    check,
)
