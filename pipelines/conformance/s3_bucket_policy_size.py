"""S3: a bucket policy is at most 20 KB (20,480 bytes)."""

from pipelines.conformance.sizes import policy_size_rule

RULE = policy_size_rule(
    "s3-bucket-policy-size",
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-iam-policies.html",
    "AWS::S3::BucketPolicy",
    "PolicyDocument",
    20_480,
    "bytes",
    "fewer environment accounts per region",
)
