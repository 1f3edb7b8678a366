"""IAM: a role trust policy holds at most 2,048 characters by default (raisable to 4,096)."""

from pipelines.conformance.iam_role_inline_policies_size import DOC
from pipelines.conformance.sizes import policy_size_rule

RULE = policy_size_rule(
    "iam-trust-policy-size",
    DOC,
    "AWS::IAM::Role",
    "AssumeRolePolicyDocument",
    2_048,
    "characters",
    "the default quota; name fewer principals",
)
