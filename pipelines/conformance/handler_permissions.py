"""CloudFormation resource handlers: a service role must allow every permission the resource
type's handlers list (create, read, update, delete), or the change fails on AWS part way. The
lists come from the resource provider schemas cfn-lint ships (AWS's own, regenerated with each
cfn-lint release); a permission we do not grant is listed in EXEMPT with the reason the
properties our templates set never need it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pipelines.conformance import graph
from pipelines.conformance.model import Finding, Rule, StackTemplate
from pipelines.conformance.policy_text import action_matches, as_list, role_statements

OPERATIONS = ("create", "read", "update", "delete")

EXEMPT: dict[tuple[str, str], str] = {
    ("AWS::ECS::Cluster", "ecs:PutAccountSetting"): "account settings are not set by a cluster",
    ("AWS::ECS::Cluster", "ecs:PutAccountSettingDefault"): "as ecs:PutAccountSetting",
    ("AWS::ElasticLoadBalancingV2::ListenerRule", "cognito-idp:DescribeUserPoolClient"): (
        "only for authenticate-cognito actions; the rules only forward"
    ),
    ("AWS::ElasticLoadBalancingV2::TargetGroup", "elasticloadbalancing:RegisterTargets"): (
        "Targets is never set: ECS registers the tasks as its own service-linked role"
    ),
    ("AWS::ElasticLoadBalancingV2::TargetGroup", "elasticloadbalancing:DeregisterTargets"): (
        "as RegisterTargets"
    ),
    ("AWS::IAM::Role", "iam:AttachRolePolicy"): "ManagedPolicyArns is never set",
    ("AWS::IAM::Role", "iam:DetachRolePolicy"): "ManagedPolicyArns is never set",
    ("AWS::IAM::Role", "iam:DeleteRolePermissionsBoundary"): (
        "withheld on purpose: the environment's boundary must never be removed"
    ),
    ("AWS::Logs::LogGroup", "firehose:TagDeliveryStream"): "no delivery to Firehose is set",
    ("AWS::Logs::LogGroup", "logs:CreateLogDelivery"): "no log delivery is set",
    ("AWS::Logs::LogGroup", "logs:DeleteDataProtectionPolicy"): (
        "DataProtectionPolicy is never set, so there is none to delete"
    ),
    ("AWS::Logs::LogGroup", "logs:PutDataProtectionPolicy"): "DataProtectionPolicy is never set",
    ("AWS::Logs::LogGroup", "logs:DeleteIndexPolicy"): "FieldIndexPolicies is never set",
    ("AWS::Logs::LogGroup", "logs:PutIndexPolicy"): "FieldIndexPolicies is never set",
    ("AWS::Logs::LogGroup", "logs:DeleteResourcePolicy"): "ResourcePolicyDocument is never set",
    ("AWS::Logs::LogGroup", "logs:PutResourcePolicy"): "ResourcePolicyDocument is never set",
    ("AWS::Logs::LogGroup", "logs:PutLogGroupDeletionProtection"): (
        "DeletionProtectionEnabled is never set"
    ),
    ("AWS::Logs::LogGroup", "logs:PutBearerTokenAuthentication"): (
        "BearerTokenAuthenticationEnabled is never set"
    ),
    ("AWS::Logs::LogGroup", "s3:REST.PUT.OBJECT"): "not an IAM action (an S3 access-log verb)",
}


def handler_permissions(region: str, resource_type: str) -> dict[str, list[str]]:
    """Operation -> the permissions its handler lists, from cfn-lint's copy of the schema."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(region, resource_type).schema
    handlers = schema.get("handlers", {})
    return {op: list(handlers.get(op, {}).get("permissions", [])) for op in OPERATIONS}


def check(templates: Sequence[StackTemplate]) -> Iterable[Finding]:
    roles = graph.roles_by_arn(templates)
    by_stack = {t.name: t for t in templates}
    for arn, stack_names in sorted(graph.cloudformation_service_roles(templates).items()):
        role = roles.get(arn)
        if role is None:
            continue
        granted = [
            str(a).lower()
            for s in role_statements(role.resource)
            if s.get("Effect") == "Allow"
            for a in as_list(s.get("Action", []))
        ]
        types = sorted(
            {
                str(resource.get("Type"))
                for name in stack_names
                if name in by_stack
                for _, resource in by_stack[name].resources()
            }
        )
        for resource_type in types:
            for operation, permissions in handler_permissions(
                role.stack.region, resource_type
            ).items():
                for permission in permissions:
                    if (resource_type, permission) in EXEMPT:
                        continue
                    if not any(action_matches(a, permission) for a in granted):
                        yield RULE.finding(
                            role.stack,
                            f"{role.logical_id}.Policies",
                            f"{permission} is missing: the {operation} handler of "
                            f"{resource_type} calls it",
                        )


RULE = Rule(
    "cloudformation-handler-permissions",
    "a CloudFormation service role allows what its resources' handlers call",
    "https://docs.aws.amazon.com/cloudformation-cli/latest/userguide/resource-type-schema.html",
    check,
)
