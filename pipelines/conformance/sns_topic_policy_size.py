"""SNS: a topic policy is at most 30 KB (30,720 bytes)."""

from pipelines.conformance.sizes import policy_size_rule

RULE = policy_size_rule(
    "sns-topic-policy-size",
    "https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-language-api-permissions-reference.html",
    "AWS::SNS::TopicPolicy",
    "PolicyDocument",
    30_720,
    "bytes",
    "name fewer principals",
)
