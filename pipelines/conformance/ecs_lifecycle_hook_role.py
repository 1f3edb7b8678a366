"""ECS lifecycle hooks: ECS calls a hook's function as the hook's role, which must trust
ecs.amazonaws.com and allow lambda:InvokeFunction on that function; the role that creates or
updates the service passes that role to ECS."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pipelines.conformance import graph
from pipelines.conformance.model import Finding, Rule, StackTemplate
from pipelines.conformance.policy_text import (
    allowed,
    as_list,
    prepare,
    resolved,
    role_statements,
    statements,
)

ECS = "ecs.amazonaws.com"


def check(templates: Sequence[StackTemplate]) -> Iterable[Finding]:
    roles = graph.roles_by_arn(templates)
    deployers = graph.cloudformation_service_roles(templates)
    for stack in templates:
        for logical_id, service in stack.resources("AWS::ECS::Service"):
            deployment = service.get("Properties", {}).get("DeploymentConfiguration", {})
            for i, hook in enumerate(deployment.get("LifecycleHooks", [])):
                where = f"{logical_id}.DeploymentConfiguration.LifecycleHooks[{i}]"
                yield from _hook(stack, where, hook, roles, deployers)


def _hook(
    stack: StackTemplate,
    where: str,
    hook: dict[str, Any],
    roles: dict[str, graph.RoleRef],
    deployers: dict[str, set[str]],
) -> Iterable[Finding]:
    role_arn = str(resolved(hook.get("RoleArn", ""), stack))
    target = str(resolved(hook.get("HookTargetArn", ""), stack))
    role = roles.get(role_arn)
    if role is None:
        yield RULE.finding(stack, f"{where}.RoleArn", f"{role_arn} is no role of these stacks")
        return
    trust = role.properties.get("AssumeRolePolicyDocument", {})
    if not any(
        s.get("Effect") == "Allow" and ECS in as_list(s.get("Principal", {}).get("Service", []))
        for s in statements(trust)
    ):
        yield RULE.finding(stack, f"{where}.RoleArn", f"{role_arn} does not trust {ECS}")
    policy = prepare(role_statements(role.resource), role.stack)
    if not allowed(policy, "lambda:InvokeFunction", target):
        yield RULE.finding(
            stack, f"{where}.RoleArn", f"{role_arn} may not lambda:InvokeFunction {target}"
        )
    for deployer_arn, stack_names in sorted(deployers.items()):
        deployer = roles.get(deployer_arn)
        if stack.name not in stack_names or deployer is None:
            continue
        granted = prepare(role_statements(deployer.resource), deployer.stack)
        if not allowed(granted, "iam:PassRole", role_arn, {"iam:PassedToService": ECS}):
            yield RULE.finding(
                stack,
                f"{where}.RoleArn",
                f"{deployer_arn}, which deploys this stack, may not pass {role_arn} to {ECS} "
                "(iam:PassRole)",
            )


RULE = Rule(
    "ecs-lifecycle-hook-role",
    "a lifecycle hook's role trusts ECS and may invoke the hook's function, and the role "
    "deploying the service may pass it to ECS",
    "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/blue-green-permissions.html",
    check,
)
