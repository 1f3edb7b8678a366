"""moto helpers for the deployment tests: stacks created directly, and moto workarounds.

The clients per account, the stand-ins and the resolver of a deployed stack live in
`pipelines.local`, which `pipelines rehearse` runs on; the tests use them from there.
"""

from __future__ import annotations

import ast
import json
from typing import Any

from botocore.exceptions import ClientError

from pipelines.local.embedded import Accounts
from pipelines.local.resolve import live_resolver

DIGEST = "sha256:" + "0123456789abcdef" * 4
CAPABILITIES = ["CAPABILITY_NAMED_IAM"]


def image_uri(manifest: dict[str, Any], service: str | None = None) -> str:
    """The release image as the pipeline passes it: the toolchain repository, by digest; with
    several images, the repository of the image `service` is built from."""
    toolchain = manifest["toolchain"]
    registry = f"{toolchain['account']}.dkr.ecr.{toolchain['region']}.amazonaws.com"
    if "images" not in manifest:
        return f"{registry}/{manifest['image']['repository']}@{DIGEST}"
    [repository] = [i["repository"] for i in manifest["images"] if service in i["services"]]
    return f"{registry}/{repository}@{DIGEST}"


def create_stack(
    accounts: Accounts, entry: dict[str, Any], body: bytes, parameters: dict[str, str]
) -> dict[str, Any]:
    """create_stack in the stack's own account and region; returns describe_stacks' stack."""
    cfn = accounts.client("cloudformation", entry["account"], entry["region"])
    cfn.create_stack(
        StackName=entry["name"],
        TemplateBody=body.decode(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=CAPABILITIES,
        Tags=[{"Key": k, "Value": v} for k, v in sorted(entry["tags"].items())],
    )
    return cfn.describe_stacks(StackName=entry["name"])["Stacks"][0]


def outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def policy_json(document: Any) -> dict[str, Any]:
    """A policy document as a dict. boto3 decodes IAM's URL-encoded JSON into a dict; KMS and S3
    return JSON text. moto's CloudFormation stores a role's inline policies as dicts and
    get_role_policy then returns their Python repr, which is read as such."""
    if isinstance(document, dict):
        return document
    try:
        return json.loads(document)
    except json.JSONDecodeError:
        return ast.literal_eval(document)


def stack_resolver(accounts: Accounts, entry: dict[str, Any], template: dict[str, Any]) -> Any:
    """A Resolver whose Ref and Arn values are those of the resources moto created."""
    return live_resolver(accounts, entry["account"], entry["region"], entry["name"], template)


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def apply_bucket_properties_moto_drops(
    s3: Any, bucket: str, properties: dict[str, Any], policy: dict[str, Any] | None
) -> None:
    """moto's CloudFormation applies only BucketEncryption and Tags to an AWS::S3::Bucket, and
    does not back AWS::S3::BucketPolicy. Where moto left a setting out, make the S3 API call
    CloudFormation makes for it, with the template's value, so S3 (moto) validates the shape and
    the bucket ends up as CloudFormation would leave it. Settings moto did apply are left alone.
    """
    versioning = properties.get("VersioningConfiguration")
    if versioning and "Status" not in s3.get_bucket_versioning(Bucket=bucket):
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=dict(versioning))
    block = properties.get("PublicAccessBlockConfiguration")
    if block:
        try:
            s3.get_public_access_block(Bucket=bucket)
        except ClientError as error:
            if error_code(error) != "NoSuchPublicAccessBlockConfiguration":
                raise
            s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=dict(block))
    if policy is not None:
        try:
            s3.get_bucket_policy(Bucket=bucket)
        except ClientError as error:
            if error_code(error) != "NoSuchBucketPolicy":
                raise
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


def apply_repository_properties_moto_drops(ecr: Any, properties: dict[str, Any]) -> None:
    """moto's CloudFormation creates an AWS::ECR::Repository with its name and tag mutability
    but drops ImageScanningConfiguration, LifecyclePolicy and RepositoryPolicyText. Where moto
    left one out, make the ECR API call CloudFormation makes for it with the template's value:
    ECR (moto) validates the lifecycle policy and the repository policy on the way in.
    """
    name = properties["RepositoryName"]
    [repository] = ecr.describe_repositories(repositoryNames=[name])["repositories"]
    scanning = properties.get("ImageScanningConfiguration")
    if scanning and "scanOnPush" not in repository.get("imageScanningConfiguration", {}):
        ecr.put_image_scanning_configuration(
            repositoryName=name,
            imageScanningConfiguration={"scanOnPush": scanning["ScanOnPush"]},
        )
    lifecycle = properties.get("LifecyclePolicy")
    if lifecycle:
        try:
            ecr.get_lifecycle_policy(repositoryName=name)
        except ClientError as error:
            if error_code(error) != "LifecyclePolicyNotFoundException":
                raise
            ecr.put_lifecycle_policy(
                repositoryName=name, lifecyclePolicyText=lifecycle["LifecyclePolicyText"]
            )
    policy = properties.get("RepositoryPolicyText")
    if policy:
        try:
            ecr.get_repository_policy(repositoryName=name)
        except ClientError as error:
            if error_code(error) != "RepositoryPolicyNotFoundException":
                raise
            ecr.set_repository_policy(repositoryName=name, policyText=json.dumps(policy))


def store_key_policies_as_json(accounts: Accounts, entry: dict[str, Any]) -> None:
    """moto's CloudFormation stores an AWS::KMS::Key's KeyPolicy as a dict where KMS keeps JSON
    text, and moto's own DescribeKey then fails on it (TypeError in its policy check). Put each
    policy back, unchanged, as the JSON text KMS holds."""
    kms = accounts.client("kms", entry["account"], entry["region"])
    cfn = accounts.client("cloudformation", entry["account"], entry["region"])
    for resource in cfn.describe_stack_resources(StackName=entry["name"])["StackResources"]:
        if resource.get("ResourceType") != "AWS::KMS::Key":
            continue
        key = resource["PhysicalResourceId"]
        policy = kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]
        if isinstance(policy, dict):
            kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(policy))
