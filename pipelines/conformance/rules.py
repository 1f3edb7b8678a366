"""Every conformance rule, in the order findings are reported.

SYNTH_RULES read the templates alone and run on every `pipelines synth`; DATASET_RULES also read
AWS's machine-readable descriptions (the CloudFormation resource schemas cfn-lint ships, an IAM
actions dataset) and run in `pipelines check` and the tests.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipelines.conformance import (
    artifact_store_admits_action_roles,
    cloudformation_role_scope,
    cloudformation_template_body_size,
    codepipeline_lambda_permissions,
    ecr_cross_account_access,
    ecr_repository_policy_size,
    ecs_lifecycle_hook_role,
    iam_managed_policies_per_role,
    iam_managed_policy_size,
    iam_pass_role_same_account,
    iam_role_inline_policies_size,
    iam_trust_policy_size,
    kms_alias_same_account,
    kms_key_policy_size,
    lambda_cross_account_invoke,
    permissions_boundary,
    s3_bucket_policy_size,
    s3_cross_account_access,
    sns_topic_policy_size,
    trust_condition_keys,
)
from pipelines.conformance.model import Finding, Rule, StackTemplate

SYNTH_RULES: tuple[Rule, ...] = (
    iam_role_inline_policies_size.RULE,
    iam_managed_policy_size.RULE,
    iam_trust_policy_size.RULE,
    iam_managed_policies_per_role.RULE,
    kms_key_policy_size.RULE,
    s3_bucket_policy_size.RULE,
    ecr_repository_policy_size.RULE,
    sns_topic_policy_size.RULE,
    cloudformation_template_body_size.RULE,
    codepipeline_lambda_permissions.RULE,
    kms_alias_same_account.RULE,
    iam_pass_role_same_account.RULE,
    artifact_store_admits_action_roles.RULE,
    trust_condition_keys.RULE,
    permissions_boundary.RULE,
    cloudformation_role_scope.RULE,
    ecs_lifecycle_hook_role.RULE,
    lambda_cross_account_invoke.RULE,
    ecr_cross_account_access.RULE,
    s3_cross_account_access.RULE,
)


def findings(
    templates: Sequence[StackTemplate], rules: Sequence[Rule] = SYNTH_RULES
) -> list[Finding]:
    return [f for rule in rules for f in rule.findings(templates)]
