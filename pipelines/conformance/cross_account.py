"""What the cross-account rules share: a role's statements, and whether a resource-based policy
admits a principal of another account.

When a role and a resource are in different accounts, AWS allows a request only if the role's
own policy allows it and the resource's policy admits the role (or its account) too
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from pipelines.conformance import graph
from pipelines.conformance.model import StackTemplate
from pipelines.conformance.policy_text import (
    action_matches,
    as_list,
    matches,
    resolved,
    role_statements,
    statements,
)


class RoleGrant(NamedTuple):
    """One Allow statement of a role, its resources resolved to text."""

    stack: StackTemplate
    logical_id: str
    arn: str | None  # None when the template does not fix the role's name
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: dict[str, Any]
    # The resources as written: a Ref or Fn::GetAtt names a resource that `resources` cannot.
    written: tuple[Any, ...] = ()


def role_grants(stack: StackTemplate) -> Iterator[RoleGrant]:
    """Every Allow statement of every role of the stack: its inline policies and those of the
    managed policies of its template that attach themselves to it."""
    for logical_id, role in stack.resources("AWS::IAM::Role"):
        arn = graph.role_arn(stack.partition, stack.account, role.get("Properties", {}))
        own = list(role_statements(role))
        for _, managed in stack.resources("AWS::IAM::ManagedPolicy"):
            properties = managed.get("Properties", {})
            if {"Ref": logical_id} in as_list(properties.get("Roles", [])):
                own += statements(properties.get("PolicyDocument"))
        for statement in own:
            if statement.get("Effect") != "Allow":
                continue
            yield RoleGrant(
                stack,
                logical_id,
                arn,
                tuple(str(a) for a in as_list(statement.get("Action", []))),
                tuple(str(r) for r in as_list(resolved(statement.get("Resource", []), stack))),
                statement.get("Condition", {}),
                tuple(as_list(statement.get("Resource", []))),
            )


def admits(
    policy: list[dict[str, Any]],
    role: StackTemplate | str,
    role_arn: str | None,
    action: str,
    resource: str | None = None,
) -> bool:
    """Whether an Allow statement of a resource policy admits a role for `action` (on
    `resource`, when the policy's statements name resources): by the role's ARN, by its account
    (root or bare id, narrowed by aws:PrincipalArn if at all), or everyone. `role` is the
    role's stack, or its ARN when no template of it is at hand. Conditions on other keys are
    taken as met: the question is whether the policy can admit the role."""
    if isinstance(role, str):
        partition, account = role.split(":")[1], role.split(":")[4]
    else:
        partition, account = role.partition, role.account
    root = f"arn:{partition}:iam::{account}:root"
    for statement in policy:
        if statement.get("Effect") != "Allow":
            continue
        if not any(action_matches(str(a), action) for a in as_list(statement.get("Action", []))):
            continue
        if resource is not None and "Resource" in statement:
            patterns = [str(p) for p in as_list(statement["Resource"])]
            if not any(matches(p, resource) for p in patterns):
                continue
        principal = statement.get("Principal")
        named = {
            str(p)
            for p in (
                as_list(principal.get("AWS", [])) if isinstance(principal, dict) else [principal]
            )
        }
        if "*" in named or (role_arn is not None and role_arn in named):
            return True
        if named & {root, account}:
            narrowed = [
                str(arn)
                for operator in ("ArnEquals", "ArnLike")
                for arn in as_list(
                    statement.get("Condition", {}).get(operator, {}).get("aws:PrincipalArn", [])
                )
            ]
            if not narrowed or (
                role_arn is not None and any(matches(a, role_arn) for a in narrowed)
            ):
                return True
    return False
