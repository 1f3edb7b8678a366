"""KMS: a key policy document is at most 32 KB (32,768 bytes)."""

from pipelines.conformance.sizes import policy_size_rule

RULE = policy_size_rule(
    "kms-key-policy-size",
    "https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html",
    "AWS::KMS::Key",
    "KeyPolicy",
    32_768,
    "bytes",
    "name fewer principals",
)
