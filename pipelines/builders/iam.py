"""IAM building blocks with awacs: trust policies, statements, and KMS key policies.

No statement here uses a "*" action. `Resource: "*"` appears only where an API has no
resource-level permissions, and the caller says which API that is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from awacs import ecr, kms, secretsmanager
from awacs.aws import (
    Action,
    Allow,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Bool,
    Condition,
    ConditionElement,
    Deny,
    ForAllValuesStringEquals,
    ForAllValuesStringLike,
    ForAnyValueStringEquals,
    ForAnyValueStringLike,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
    StringLike,
    StringNotEquals,
    StringNotLike,
)
from awacs.sts import AssumeRole
from troposphere import Sub, iam
from troposphere import kms as kms_resources

from pipelines import naming

Resource = Any  # a string ARN or a troposphere intrinsic (Sub, GetAtt, Ref)


def allow(actions: Sequence[Action], resources: Sequence[Resource], **condition: Any) -> Statement:
    """An Allow statement. `condition` maps a condition operator's name to its body."""
    return _statement(Allow, actions, resources, condition)


def deny(actions: Sequence[Action], resources: Sequence[Resource], **condition: Any) -> Statement:
    return _statement(Deny, actions, resources, condition)


def _statement(
    effect: Any, actions: Sequence[Action], resources: Sequence[Resource], condition: Any
) -> Statement:
    kwargs: dict[str, Any] = {"Effect": effect, "Action": list(actions)}
    kwargs["Resource"] = list(resources)
    if condition:
        kwargs["Condition"] = Condition([_OPERATORS[op](body) for op, body in condition.items()])
    return Statement(**kwargs)


PULL_ACTIONS = [ecr.BatchCheckLayerAvailability, ecr.BatchGetImage, ecr.GetDownloadUrlForLayer]


def granted_statements(permissions: Sequence[Any]) -> list[Statement]:
    """A role's configured `permissions` ({effect, actions, resources, conditions}), one
    statement each."""
    return [
        _statement(
            Deny if permission.effect == "Deny" else Allow,
            [Action(*a.split(":", 1)) for a in permission.actions],
            list(permission.resources),
            # Sorted, so the same permissions always give the same bytes.
            {op: dict(sorted(body.items())) for op, body in sorted(permission.conditions.items())},
        )
        for permission in permissions
    ]


def image_pull_statements(repositories: Sequence[Resource]) -> list[Statement]:
    """Pulling images from these ECR repositories; nothing if there are none."""
    if not repositories:
        return []
    return [
        # GetAuthorizationToken has no resource-level permissions.
        allow([ecr.GetAuthorizationToken], ["*"]),
        allow(PULL_ACTIONS, list(repositories)),
    ]


def secret_read_statements(arns: Iterable[str]) -> list[Statement]:
    """Reading these Secrets Manager secrets; nothing if there are none."""
    secrets = sorted(set(arns))
    if not secrets:
        return []
    # A secret's full ARN ends in a random six-character suffix the config may omit.
    resources = sorted({*secrets, *(f"{a}-??????" for a in secrets)})
    return [allow([secretsmanager.GetSecretValue], resources)]


def shared_prefix_patterns(arns: Iterable[str], resource_start: str) -> list[str]:
    """One wildcard pattern per account and region covering every ARN given: the ARNs' common
    start, cut after its last `/`, then `*`. `resource_start` ends the fixed part of the ARN
    (e.g. `:secret:`); names differing from their first character give `<fixed part>*`."""
    groups: dict[str, list[str]] = {}
    for arn in sorted(set(arns)):
        fixed, _, name = arn.partition(resource_start)
        groups.setdefault(fixed + resource_start, []).append(name)
    patterns = []
    for fixed, names in groups.items():
        first, last = names[0], names[-1]  # sorted: their common start is everyone's
        common = first[
            : next(
                (i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), len(first)
            )
        ]
        if len(names) > 1:
            common = common[: common.rfind("/") + 1]
        patterns.append(f"{fixed}{common}*")
    return patterns


def aliased_key_statement(actions: Sequence[Action], keys: Sequence[str], alias: str) -> Statement:
    """Using a KMS key another stack made, known by its alias (its ARN is not known here)."""
    return allow(
        actions, list(keys), **{"ForAnyValue:StringEquals": {"kms:ResourceAliases": [alias]}}
    )


def document(*statements: Statement) -> PolicyDocument:
    return PolicyDocument(Version="2012-10-17", Statement=list(statements))


def service_trust(service: str) -> PolicyDocument:
    """Trust an AWS service. The principal is a plain string (moto rejects a one-item list).

    No confused-deputy condition: a service that does not send aws:SourceAccount when it
    assumes a role fails a condition on it, and AWS documents these keys only for some
    services' roles (see ecs_task_trust and docs/security.md).
    """
    return document(
        Statement(Effect=Allow, Action=[AssumeRole], Principal=Principal("Service", service))
    )


def ecs_task_trust(partition: str, region: str, account: str) -> PolicyDocument:
    """A task role's trust, with the confused-deputy conditions the ECS task role
    documentation shows: only ECS tasks of this account and region may assume it."""
    return document(
        Statement(
            Effect=Allow,
            Action=[AssumeRole],
            Principal=Principal("Service", ECS_TASKS),
            Condition=Condition(
                [
                    ArnLike("aws:SourceArn", naming.arn(partition, "ecs", region, account, "*")),
                    StringEquals("aws:SourceAccount", account),
                ]
            ),
        )
    )


ECS_TASKS = "ecs-tasks.amazonaws.com"


def principals_statement(
    partition: str,
    principal_arns: Sequence[str],
    actions: Sequence[Action],
    resources: Sequence[Resource] = (),
    sid: str | None = None,
) -> Statement:
    """Allow specific principals, possibly in other accounts, by account and principal ARN.

    Naming `arn:...:root` with an `aws:PrincipalArn` condition, rather than the role itself as
    the principal, lets the granting and the granted stack be created in either order: IAM
    refuses a principal that does not exist yet, and would break if the role were recreated.
    """
    accounts = sorted({a.split(":")[4] for a in principal_arns})
    kwargs: dict[str, Any] = {
        "Effect": Allow,
        "Action": list(actions),
        "Principal": Principal("AWS", [naming.account_root(partition, a) for a in accounts]),
        "Condition": Condition(ArnEquals("aws:PrincipalArn", sorted(principal_arns))),
    }
    if resources:
        kwargs["Resource"] = list(resources)
    if sid:
        kwargs["Sid"] = sid
    return Statement(**kwargs)


def principals_trust(partition: str, principal_arns: Sequence[str]) -> PolicyDocument:
    """A trust policy for specific principals (see principals_statement)."""
    return document(principals_statement(partition, principal_arns, [AssumeRole]))


# checkov reads an account root principal as "any principal of that account"; the trust above
# narrows it to the named principals with aws:PrincipalArn.
ACCOUNT_ROOT_TRUST_REASON = {
    "CKV_AWS_61": "the account root principal is narrowed to named principals by an "
    "aws:PrincipalArn condition, so the trust can be created before those principals exist",
}


def role_policy(name: str, *statements: Statement) -> iam.Policy:
    """An inline policy for a troposphere Role."""
    return iam.Policy(PolicyName=name, PolicyDocument=document(*statements))


def deny_insecure_transport(resources: Sequence[Resource]) -> Statement:
    return Statement(
        Sid="DenyInsecureTransport",
        Effect=Deny,
        Principal=Principal("*"),
        Action=[Action("s3", "*")],
        Resource=list(resources),
        Condition=Condition(Bool("aws:SecureTransport", "false")),
    )


# KMS key policies -----------------------------------------------------------------------------

KEY_ADMIN_ACTIONS = [
    kms.CancelKeyDeletion,
    kms.CreateAlias,
    kms.CreateGrant,
    kms.DeleteAlias,
    kms.DescribeKey,
    kms.DisableKey,
    kms.DisableKeyRotation,
    kms.EnableKey,
    kms.EnableKeyRotation,
    kms.GetKeyPolicy,
    kms.GetKeyRotationStatus,
    kms.ListAliases,
    kms.ListGrants,
    kms.ListKeyPolicies,
    kms.ListResourceTags,
    kms.PutKeyPolicy,
    kms.RetireGrant,
    kms.RevokeGrant,
    kms.ScheduleKeyDeletion,
    kms.TagResource,
    kms.UntagResource,
    kms.UpdateAlias,
    kms.UpdateKeyDescription,
]

KEY_USE_ACTIONS = [
    kms.Decrypt,
    kms.DescribeKey,
    kms.Encrypt,
    kms.GenerateDataKey,
    kms.ReEncryptFrom,
    kms.ReEncryptTo,
]


def distinct_actions(*groups: Iterable[Action]) -> list[Action]:
    """The actions of every group, once each, sorted by name.

    By name, not in a set: awacs hashes an action by serialising it to JSON, which made
    de-duplicating a few key and deny lists a tenth of building a small app's stacks.
    """
    by_name = {action.JSONrepr(): action for group in groups for action in group}
    return [by_name[name] for name in sorted(by_name)]


def key_owner_statement(partition: str) -> Statement:
    """The key's own account administers and uses it through IAM policies.

    The actions are listed rather than "kms:*" (no wildcard actions anywhere), and include
    PutKeyPolicy so the account can never lock itself out of the key.
    """
    return Statement(
        Sid="AccountAdministersKey",
        Effect=Allow,
        Principal=Principal("AWS", Sub(f"arn:{partition}:iam::${{AWS::AccountId}}:root")),
        Action=distinct_actions(KEY_ADMIN_ACTIONS, KEY_USE_ACTIONS),
        Resource=["*"],  # in a key policy "*" means this key
    )


def logs_key(
    title: str,
    description: str,
    *,
    partition: str,
    region: str,
    sid: str,
    log_groups: Sequence[str],
) -> kms_resources.Key:
    """A retained, rotating key that CloudWatch Logs may use for exactly these log groups
    (ARNs, globs allowed), and that its own account administers."""
    logs_use = Statement(
        Sid=sid,
        Effect=Allow,
        Principal=Principal("Service", f"logs.{region}.amazonaws.com"),
        Action=[
            kms.Encrypt,
            kms.Decrypt,
            kms.ReEncryptFrom,
            kms.ReEncryptTo,
            kms.GenerateDataKey,
            kms.DescribeKey,
        ],
        Resource=["*"],  # in a key policy "*" means this key
        Condition=Condition(
            ArnLike(
                "kms:EncryptionContext:aws:logs:arn",
                log_groups[0] if len(log_groups) == 1 else list(log_groups),
            )
        ),
    )
    return kms_resources.Key(
        title,
        Description=description,
        EnableKeyRotation=True,
        KeyPolicy=document(key_owner_statement(partition), logs_use),
        DeletionPolicy="Retain",
        UpdateReplacePolicy="Retain",
    )


# Every operator a configured permission may use (permissions.CONDITION_OPERATORS), and those
# the builders use themselves. Each is called with the condition's body, {key: value(s)}.
_OPERATORS: dict[str, Callable[[dict[str, Any]], ConditionElement]] = {
    "ArnEquals": ArnEquals,
    "ArnLike": ArnLike,
    "ArnNotEquals": ArnNotEquals,
    "ArnNotLike": ArnNotLike,
    "Bool": Bool,
    "StringEquals": StringEquals,
    "StringLike": StringLike,
    "StringNotEquals": StringNotEquals,
    "StringNotLike": StringNotLike,
    "ForAnyValue:StringEquals": ForAnyValueStringEquals,
    "ForAnyValue:StringLike": ForAnyValueStringLike,
    "ForAllValues:StringEquals": ForAllValuesStringEquals,
    "ForAllValues:StringLike": ForAllValuesStringLike,
}
