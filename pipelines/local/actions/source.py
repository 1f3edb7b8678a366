"""Source actions: `Source/AWS/ECR` (the execution's pushed image) and `Source/AWS/S3`."""

from __future__ import annotations

import json

from pipelines.local.actions.context import ActionResult, ActionRun, Context
from pipelines.local.artifacts import put_outputs


def ecr_source(context: Context, run: ActionRun) -> ActionResult:
    """The image the execution's push put in the repository: its variables, as CodePipeline
    sets them, and as the output artifact their JSON."""
    execution, region = run.execution, run.region
    ecr = context.clients.client("ecr", run.action.role_arn, region)
    repository = run.config["RepositoryName"]
    [detail] = ecr.describe_images(
        repositoryName=repository, imageIds=[{"imageDigest": execution.digest}]
    )["imageDetails"]
    registry = f"{detail['registryId']}.dkr.ecr.{region}.amazonaws.com"
    variables = {
        "RegistryId": detail["registryId"],
        "RepositoryName": repository,
        "ImageTag": run.config.get("ImageTag", "latest"),
        "ImageDigest": execution.digest,
        "ImageURI": f"{registry}/{repository}@{execution.digest}",
    }
    put_outputs(execution, run.action, variables, json.dumps(variables).encode())
    return ActionResult(f"image {repository}@{execution.short}")


def s3_source(context: Context, run: ActionRun) -> ActionResult:
    """The object's current version, as the output artifact."""
    bucket, key = run.config["S3Bucket"], run.config["S3ObjectKey"]
    s3 = context.clients.client("s3", run.action.role_arn, run.region)
    stored = s3.get_object(Bucket=bucket, Key=key)
    data = stored["Body"].read()
    version = stored.get("VersionId", "null")
    put_outputs(run.execution, run.action, {"VersionId": version, "ETag": stored["ETag"]}, data)
    return ActionResult(f"s3://{bucket}/{key} version {version}")
