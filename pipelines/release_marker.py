"""The release marker: a CodePipeline Lambda action that tags what an environment runs.

After an environment's deployment it tags the released digest `tag` (deployed-<env>), having
first tagged the digest `tag` named before, if another, `previous` (deployed-<env>-previous): the
repository's lifecycle policy keeps both. Idempotent, as CodePipeline may invoke it twice.
This file is the function's inline code: the standard library and boto3 only.
"""

from __future__ import annotations

import json
from typing import Any


def handler(event: dict[str, Any], context: Any, ecr: Any = None, codepipeline: Any = None) -> None:
    if ecr is None:
        import boto3

        ecr, codepipeline = boto3.client("ecr"), boto3.client("codepipeline")
    job = event["CodePipeline.job"]
    try:
        p = json.loads(job["data"]["actionConfiguration"]["configuration"]["UserParameters"])
        summary = mark(ecr, p["repository"], p["digest"], p["tag"], p["previous"])
    except Exception as error:  # any failure fails the action, with its reason
        codepipeline.put_job_failure_result(
            jobId=job["id"],
            failureDetails={"type": "JobFailed", "message": f"{error!r}"[:5000]},
        )
        return
    codepipeline.put_job_success_result(jobId=job["id"], executionDetails={"summary": summary})


def mark(ecr: Any, repository: str, digest: str, tag: str, previous: str) -> str:
    """Tag `digest` as `tag`; the digest `tag` named before, if another, becomes `previous`."""
    before = carrier(ecr, repository, tag)
    moved = before if before != digest else None
    if moved is not None:
        put_tag(ecr, repository, moved, previous)
    put_tag(ecr, repository, digest, tag)
    return f"{tag}: {digest}" + (f"; {previous}: {moved}" if moved is not None else "")


def carrier(ecr: Any, repository: str, tag: str) -> str | None:
    """The digest `tag` names, or None."""
    try:
        found = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
    except ecr.exceptions.ImageNotFoundException:
        return None
    digest: str = found["imageDetails"][0]["imageDigest"]
    return digest


def put_tag(ecr: Any, repository: str, digest: str, tag: str) -> None:
    """Put the manifest of `digest` again, under `tag` (ECR's way to retag). Fetched by digest,
    it is the manifest as stored, and PutImage checks that it still has that digest."""
    found = ecr.batch_get_image(repositoryName=repository, imageIds=[{"imageDigest": digest}])
    if not found["images"]:
        raise LookupError(f"{repository}@{digest}: {found['failures']}")
    image = found["images"][0]
    media = image.get("imageManifestMediaType")
    try:
        ecr.put_image(
            repositoryName=repository,
            imageManifest=image["imageManifest"],
            imageTag=tag,
            imageDigest=digest,
            **({"imageManifestMediaType": media} if media else {}),
        )
    except ecr.exceptions.ImageAlreadyExistsException:
        if carrier(ecr, repository, tag) != digest:  # done only if the tag names this digest
            raise
