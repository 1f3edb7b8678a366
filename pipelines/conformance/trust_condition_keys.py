"""IAM: a condition on a key the request does not carry is false. A trust policy may require
aws:SourceAccount or aws:SourceArn only of a service whose own documentation shows those keys on
that kind of role; elsewhere the service may never be able to assume the role."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pipelines.conformance.model import Finding, Rule, StackTemplate
from pipelines.conformance.policy_text import as_list, statements

SOURCE_KEYS = {"aws:sourceaccount", "aws:sourcearn"}

# The services whose role documentation shows these keys in the role's trust policy.
DOCUMENTED = {
    "ecs-tasks.amazonaws.com": "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/"
    "task-iam-roles.html",
}


def check(templates: Sequence[StackTemplate]) -> Iterable[Finding]:
    for stack in templates:
        for logical_id, role in stack.resources("AWS::IAM::Role"):
            trust = role.get("Properties", {}).get("AssumeRolePolicyDocument")
            for statement in statements(trust):
                services = as_list(statement.get("Principal", {}).get("Service", []))
                keys = {
                    key.lower() for body in statement.get("Condition", {}).values() for key in body
                }
                for service in services:
                    if keys & SOURCE_KEYS and service not in DOCUMENTED:
                        yield RULE.finding(
                            stack,
                            f"{logical_id}.AssumeRolePolicyDocument",
                            f"requires {', '.join(sorted(keys & SOURCE_KEYS))} of {service}, "
                            "which AWS does not document sending when it assumes this kind of "
                            "role; without the key the condition is false and the role can "
                            "never be assumed",
                        )


RULE = Rule(
    "trust-condition-keys",
    "trust policies require source keys only of services documented to send them",
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html"
    "#condition-keys-sourceaccount",
    check,
)
