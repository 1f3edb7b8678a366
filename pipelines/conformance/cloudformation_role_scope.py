"""Least privilege for the roles the pipeline deploys with: the CloudFormation service role of
an environment can change the resources of the stacks it deploys, and none of the named
resources other stacks make in its account (the deploy and runner stacks, other environments).
Its policy names resources by prefix, so this is checked against every name the templates make.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

from pipelines.conformance import graph
from pipelines.conformance.model import Finding, Rule, StackTemplate
from pipelines.conformance.policy_text import (
    Prepared,
    allowed,
    for_action,
    prepare,
    resolved,
    role_statements,
)

# Actions that change a role: its permissions, its trust, its settings, or the role itself.
ROLE_ACTIONS = (
    "iam:DeleteRole",
    "iam:PutRolePolicy",
    "iam:TagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
)


class Named(NamedTuple):
    stack: StackTemplate
    logical_id: str
    arn: str
    action: str  # one action that changes or deletes it
    boundary: str | None  # a role's permissions boundary


def _named(stack: StackTemplate) -> Iterator[Named]:
    base = f"arn:{stack.partition}"
    where = f"{stack.region}:{stack.account}"
    for logical_id, resource in stack.resources():
        props = resource.get("Properties", {})
        kind = resource.get("Type")
        if kind == "AWS::IAM::Role" and (
            arn := graph.role_arn(stack.partition, stack.account, props)
        ):
            boundary = resolved(props.get("PermissionsBoundary"), stack)
            for action in ROLE_ACTIONS:
                yield Named(stack, logical_id, arn, action, boundary)
        elif kind == "AWS::ECS::Cluster" and isinstance(name := props.get("ClusterName"), str):
            yield Named(
                stack, logical_id, f"{base}:ecs:{where}:cluster/{name}", "ecs:DeleteCluster", None
            )
        elif kind == "AWS::ECS::TaskDefinition" and isinstance(name := props.get("Family"), str):
            arn = f"{base}:ecs:{where}:task-definition/{name}:1"
            yield Named(stack, logical_id, arn, "ecs:RegisterTaskDefinition", None)
        elif kind == "AWS::Logs::LogGroup" and isinstance(name := props.get("LogGroupName"), str):
            arn = f"{base}:logs:{where}:log-group:{name}"
            yield Named(stack, logical_id, arn, "logs:DeleteLogGroup", None)


def check(templates: Sequence[StackTemplate]) -> Iterable[Finding]:
    roles = graph.roles_by_arn(templates)
    for role_arn, stack_names in sorted(graph.cloudformation_service_roles(templates).items()):
        role = roles.get(role_arn)
        if role is None:
            continue
        policy = prepare(role_statements(role.resource), role.stack)
        # Each role is asked about a handful of actions on every name: match the actions once.
        by_action: dict[str, list[Prepared]] = {}
        for stack in templates:
            if stack.account != role.stack.account:
                continue
            own = stack.name in stack_names
            for named in _named(stack):
                if named.arn == role_arn:
                    continue  # a role acting on itself is the deploy stack's business
                context = {"iam:PermissionsBoundary": named.boundary or ""}
                if named.action not in by_action:
                    by_action[named.action] = for_action(policy, named.action)
                can = allowed(by_action[named.action], named.action, named.arn, context)
                if own and not can:
                    yield RULE.finding(
                        role.stack,
                        f"{role.logical_id}.Policies",
                        f"cannot {named.action} {named.arn}, which {stack.name} "
                        f"({named.logical_id}) makes and CloudFormation changes as this role",
                    )
                elif not own and can:
                    yield RULE.finding(
                        role.stack,
                        f"{role.logical_id}.Policies",
                        f"may {named.action} {named.arn}, which belongs to {stack.name} "
                        f"({named.logical_id}), a stack this role does not deploy",
                    )


RULE = Rule(
    "cloudformation-role-scope",
    "a CloudFormation service role reaches its own stacks' resources and no others",
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/best-practices.html#grant-least-privilege",
    check,
)
