"""IAM: a managed policy holds at most 6,144 characters, white space not counted."""

from pipelines.conformance.iam_role_inline_policies_size import DOC
from pipelines.conformance.sizes import policy_size_rule

RULE = policy_size_rule(
    "iam-managed-policy-size",
    DOC,
    "AWS::IAM::ManagedPolicy",
    "PolicyDocument",
    6_144,
    "characters",
    "split the permissions it grants",
)
