"""S3: what reading and writing a bucket's objects asks of a role.

- Of another account, the bucket policy must admit the role (its account or the role itself)
  for the action on those objects, as well as the role's own policy allowing it.
- For a bucket encrypted with a KMS key by default, the role's own policy must allow
  kms:Decrypt with the key to read objects and kms:GenerateDataKey to write them, in any
  account; of another account, the key policy must admit the role to do so too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from pipelines.conformance import graph
from pipelines.conformance.cross_account import RoleGrant, admits, role_grants
from pipelines.conformance.model import Finding, Rule, StackTemplate
from pipelines.conformance.policy_text import as_list, matches, resolved, statements

# What reading and writing an SSE-KMS object asks of its key
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html).
_KEY_ACTION = {
    "s3:GetObject": "kms:Decrypt",
    "s3:GetObjectVersion": "kms:Decrypt",
    "s3:PutObject": "kms:GenerateDataKey",
}
# A key ID of no real key: a grant on the keys of an account and region (`key/*`) reaches
# every key there, and only a condition on the key's aliases narrows it.
_ANY_KEY_ID = "00000000-0000-0000-0000-000000000000"


class Key(NamedTuple):
    stack: StackTemplate
    logical_id: str
    aliases: tuple[str, ...]  # alias/<name>, from the AWS::KMS::Alias resources naming it
    policy: list[dict[str, Any]]  # the key policy's statements, resolved


class Bucket(NamedTuple):
    stack: StackTemplate
    logical_id: str
    arn: str  # arn:<partition>:s3:::<name>
    policy: list[dict[str, Any]]  # the bucket policy's statements, resolved
    keys: list[Key]  # the KMS keys its default encryption uses


def check(templates: Sequence[StackTemplate]) -> Iterable[Finding]:
    buckets = list(_buckets(templates))
    for stack in templates:
        grants = list(role_grants(stack))
        for grant in grants:
            own = [g for g in grants if g.logical_id == grant.logical_id]
            for bucket in buckets:
                for resource in _resources(grant, bucket):
                    if resource == bucket.arn or resource.startswith(f"{bucket.arn}/"):
                        yield from _refusals(stack, grant, own, bucket, resource)


def _resources(grant: RoleGrant, bucket: Bucket) -> list[str]:
    """The grant's resources, a Ref or Fn::GetAtt of the bucket in its own template named."""
    if grant.stack.name != bucket.stack.name:
        return list(grant.resources)
    name = bucket.arn.split(":::", 1)[1]
    return [
        str(resolved(w, grant.stack, {bucket.logical_id: (name, bucket.arn)}))
        for w in grant.written
    ]


def _refusals(
    stack: StackTemplate, grant: RoleGrant, own: list[RoleGrant], bucket: Bucket, resource: str
) -> Iterator[Finding]:
    where = f"{grant.logical_id}.Policies"
    actions = [a for a in grant.actions if a.startswith("s3:")]
    foreign = bucket.stack.account != stack.account
    if foreign:
        refused = [a for a in actions if not admits(bucket.policy, stack, grant.arn, a, resource)]
        if refused:
            yield RULE.finding(
                stack,
                where,
                f"the role may {', '.join(refused)} on {resource}, which the policy of bucket "
                f"{bucket.logical_id} (account {bucket.stack.account}) does not admit account "
                f"{stack.account} or the role to",
            )
    needed = sorted({_KEY_ACTION[a] for a in actions if a in _KEY_ACTION})
    if not needed or resource == bucket.arn:
        return
    for key in bucket.keys:
        ungranted = [k for k in needed if not any(k in g.actions and reaches(g, key) for g in own)]
        if ungranted:
            yield RULE.finding(
                stack,
                where,
                f"the role may {', '.join(actions)} on {resource}, which key {key.logical_id} "
                f"encrypts, but its own policy does not allow {', '.join(ungranted)} with it",
            )
        unadmitted = [k for k in needed if foreign and not admits(key.policy, stack, grant.arn, k)]
        if unadmitted:
            yield RULE.finding(
                stack,
                where,
                f"the role may {', '.join(actions)} on {resource}, which key {key.logical_id} "
                f"(account {key.stack.account}) encrypts, whose key policy does not admit "
                f"account {stack.account} or the role to {', '.join(unadmitted)}",
            )


def reaches(grant: RoleGrant, key: Key) -> bool:
    """Whether the grant names the key: by a pattern its ARN matches, narrowed by the key's
    aliases when the grant's condition names them (kms:ResourceAliases)."""
    stack = key.stack
    if grant.stack.name == stack.name and {"Fn::GetAtt": [key.logical_id, "Arn"]} in grant.written:
        return True
    parameters = grant.stack.body.get("Parameters", {})
    if any(isinstance(w, dict) and w.get("Ref") in parameters for w in grant.written):
        # A key ARN given at deploy time: the template cannot tell which key it names, so it
        # is taken to name this one.
        return True
    arn = f"arn:{stack.partition}:kms:{stack.region}:{stack.account}:key/{_ANY_KEY_ID}"
    if not any(":kms:" in r and matches(r, arn) for r in grant.resources):
        return False
    for operator, body in grant.condition.items():
        wanted = body.get("kms:ResourceAliases") if isinstance(body, dict) else None
        if wanted is None:
            continue
        like = operator.endswith("StringLike")
        if not any(
            matches(str(w), alias) if like else str(w) == alias
            for w in as_list(wanted)
            for alias in key.aliases
        ):
            return False
    return True


def _buckets(templates: Sequence[StackTemplate]) -> Iterator[Bucket]:
    for stack in templates:
        keys = {key.logical_id: key for key in _keys(stack)}
        for bucket_id, bucket in stack.resources("AWS::S3::Bucket"):
            name = resolved(bucket.get("Properties", {}).get("BucketName"), stack)
            if not isinstance(name, str):
                continue
            arn = f"arn:{stack.partition}:s3:::{name}"
            policy = [
                statement
                for _, found in stack.resources("AWS::S3::BucketPolicy")
                if found.get("Properties", {}).get("Bucket") in ({"Ref": bucket_id}, name)
                for statement in statements(
                    resolved(
                        found["Properties"].get("PolicyDocument"), stack, {bucket_id: (name, arn)}
                    )
                )
            ]
            used = [keys[k] for k in graph.bucket_key_ids(bucket) if k in keys]
            yield Bucket(stack, bucket_id, arn, policy, used)


def _keys(stack: StackTemplate) -> Iterator[Key]:
    aliases: dict[str, list[str]] = {}
    for _, alias in stack.resources("AWS::KMS::Alias"):
        properties = alias.get("Properties", {})
        target = properties.get("TargetKeyId")
        key_id = None
        if isinstance(target, dict):
            key_id = target.get("Ref") or (target.get("Fn::GetAtt") or [None])[0]
        name = resolved(properties.get("AliasName"), stack)
        if isinstance(key_id, str) and isinstance(name, str):
            aliases.setdefault(key_id, []).append(name)
    for logical_id, key in stack.resources("AWS::KMS::Key"):
        policy = statements(resolved(key.get("Properties", {}).get("KeyPolicy"), stack))
        yield Key(stack, logical_id, tuple(aliases.get(logical_id, ())), policy)


RULE = Rule(
    "s3-cross-account-access",
    "a role that may read or write a bucket's objects is allowed the bucket's KMS key, and of "
    "another account is admitted by the bucket's and the key's policies",
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/example-walkthroughs-managing-access-example2.html",
    check,
)
