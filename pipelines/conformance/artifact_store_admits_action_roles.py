"""CodePipeline cross-account actions: the artifact bucket's policy and the artifact key's policy
of the action's region must admit the role the action assumes in the other account."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from pipelines.conformance import graph
from pipelines.conformance.cross_account import admits
from pipelines.conformance.model import Finding, Rule, StackTemplate
from pipelines.conformance.policy_text import statements


def _store_policies(
    templates: Sequence[StackTemplate], pipeline_stack: StackTemplate, location: Any
) -> Iterator[tuple[StackTemplate, str, str, list[dict[str, Any]], str]]:
    """(stack, logical id, property, statements, action needed) of the bucket policy and the
    key policy of the artifact bucket at `location` (a name, or a Ref in the pipeline's own
    template): the key is the one the bucket encrypts with."""
    for stack in templates:
        if stack.account != pipeline_stack.account:
            continue
        for bucket_id, bucket in stack.resources("AWS::S3::Bucket"):
            name = bucket.get("Properties", {}).get("BucketName")
            here = stack is pipeline_stack and location == {"Ref": bucket_id}
            if not here and name != location:
                continue
            for policy_id, policy in stack.resources("AWS::S3::BucketPolicy"):
                if policy.get("Properties", {}).get("Bucket") == {"Ref": bucket_id}:
                    document = policy["Properties"].get("PolicyDocument")
                    yield stack, policy_id, "PolicyDocument", statements(document), "s3:GetObject"
            for key_id in graph.bucket_key_ids(bucket):
                key_policy = stack.body["Resources"][key_id]["Properties"].get("KeyPolicy")
                yield stack, key_id, "KeyPolicy", statements(key_policy), "kms:Decrypt"


def check(templates: Sequence[StackTemplate]) -> Iterable[Finding]:
    for pipeline_stack in templates:
        for pipeline_id, pipeline in pipeline_stack.resources("AWS::CodePipeline::Pipeline"):
            locations = {s.region: s.store.get("Location") for s in graph.artifact_stores(pipeline)}
            roles: dict[str, dict[str, str]] = {}
            for action in graph.pipeline_actions([pipeline_stack]):
                role = action.action.get("RoleArn")
                if action.pipeline_id != pipeline_id or not isinstance(role, str):
                    continue
                if role.split(":")[4] != pipeline_stack.account:
                    roles.setdefault(action.region, {}).setdefault(role, action.where)
            for region, used in sorted(roles.items()):
                location = locations.get(region, locations.get(None))
                for stack, logical_id, prop, policy, needed in _store_policies(
                    templates, pipeline_stack, location
                ):
                    for role, where in sorted(used.items()):
                        if not admits(policy, role, role, needed):
                            yield RULE.finding(
                                stack,
                                f"{logical_id}.{prop}",
                                f"does not admit {role} ({needed}), which {where} assumes",
                            )


RULE = Rule(
    "artifact-store-admits-action-roles",
    "artifact bucket and key policies admit every cross-account action role",
    "https://docs.aws.amazon.com/codepipeline/latest/userguide/pipelines-create-cross-account.html",
    check,
)
