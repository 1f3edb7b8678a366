"""KMS: an alias identifies a key only in the key's own account; a pipeline with cross-account
actions must name each artifact store's key by key ARN or key id."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pipelines.conformance import graph
from pipelines.conformance.model import Finding, Rule, StackTemplate


def check(templates: Sequence[StackTemplate]) -> Iterable[Finding]:
    for stack in templates:
        for logical_id, pipeline in stack.resources("AWS::CodePipeline::Pipeline"):
            foreign = sorted(
                {
                    role.split(":")[4]
                    for action in graph.pipeline_actions([stack])
                    if action.pipeline_id == logical_id
                    and isinstance(role := action.action.get("RoleArn"), str)
                    and role.split(":")[4] != stack.account
                }
            )
            if not foreign:
                continue
            for where, _, store in graph.artifact_stores(pipeline):
                key = store.get("EncryptionKey", {}).get("Id")
                if isinstance(key, str) and (key.startswith("alias/") or ":alias/" in key):
                    yield RULE.finding(
                        stack,
                        f"{logical_id}.{where}.EncryptionKey.Id",
                        f"the key is named by alias ({key}), which accounts "
                        f"{', '.join(foreign)} of the pipeline's cross-account actions cannot "
                        "resolve; name it by key ARN",
                    )


RULE = Rule(
    "kms-alias-same-account",
    "cross-account pipelines name artifact keys by key ARN",
    "https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_EncryptionKey.html",
    check,
)
