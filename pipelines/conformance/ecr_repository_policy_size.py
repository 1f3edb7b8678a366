"""ECR: a repository policy is at most 10,240 characters."""

from pipelines.conformance.sizes import policy_size_rule

RULE = policy_size_rule(
    "ecr-repository-policy-size",
    "https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_SetRepositoryPolicy.html",
    "AWS::ECR::Repository",
    "RepositoryPolicyText",
    10_240,
    "characters",
    "fewer pulling accounts",
)
