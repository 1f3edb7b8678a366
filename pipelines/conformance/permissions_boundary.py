"""IAM permissions boundaries: a role that may create or change roles may do so only with a
named boundary (condition iam:PermissionsBoundary), may never remove one, and every role in the
stacks CloudFormation changes as that role carries that boundary; otherwise whoever can change
those templates can give a role any permission."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pipelines.conformance import graph
from pipelines.conformance.model import Finding, Rule, StackTemplate
from pipelines.conformance.policy_text import (
    action_matches,
    allowed_anywhere,
    as_list,
    resolved,
    role_statements,
)

GUARDED = [
    "iam:AttachRolePolicy",
    "iam:CreateRole",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:UpdateAssumeRolePolicy",
]
NEVER = [
    "iam:DeleteRolePermissionsBoundary",
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
]


def _boundaries(statement: dict[str, object]) -> set[str]:
    condition = statement.get("Condition", {})
    assert isinstance(condition, dict)
    return {
        str(arn)
        for operator in ("StringEquals", "ArnEquals")
        for arn in as_list(condition.get(operator, {}).get("iam:PermissionsBoundary", []))
    }


def check(templates: Sequence[StackTemplate]) -> Iterable[Finding]:
    roles = graph.roles_by_arn(templates)
    deployed_as = graph.cloudformation_service_roles(templates)
    by_stack = {t.name: t for t in templates}
    for arn, role in sorted(roles.items()):
        policy = list(role_statements(role.resource))
        if not allowed_anywhere(policy, "iam:CreateRole"):
            continue
        where = f"{role.logical_id}.Policies"
        admitted: set[str] = set()
        for statement in policy:
            actions = as_list(statement.get("Action", []))
            guarded = [g for g in GUARDED if any(action_matches(a, g) for a in actions)]
            if statement.get("Effect") != "Allow" or not guarded:
                continue
            boundaries = _boundaries(statement)
            if not boundaries:
                yield RULE.finding(
                    role.stack,
                    where,
                    f"{', '.join(guarded)} allowed without an iam:PermissionsBoundary condition",
                )
            admitted |= boundaries
        for action in NEVER:
            if allowed_anywhere(policy, action):
                yield RULE.finding(role.stack, where, f"{action} is allowed")
        for stack_name in sorted(deployed_as.get(arn, ())):
            stack = by_stack.get(stack_name)
            if stack is None:
                continue
            for logical_id, made in stack.resources("AWS::IAM::Role"):
                boundary = resolved(made.get("Properties", {}).get("PermissionsBoundary"), stack)
                if boundary not in admitted:
                    yield RULE.finding(
                        stack,
                        f"{logical_id}.PermissionsBoundary",
                        f"CloudFormation creates this role as {arn}, which may create roles "
                        f"only with {', '.join(sorted(admitted)) or 'a boundary'}; it has "
                        f"{boundary or 'none'}",
                    )


RULE = Rule(
    "permissions-boundary",
    "roles that create roles do so only under a permissions boundary",
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html",
    check,
)
