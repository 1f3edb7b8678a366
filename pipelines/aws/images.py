"""The release repository in ECR: does a digest exist there, and which digest does a prefix name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from pipelines.aws import digests
from pipelines.aws.errors import BadInput, error_code
from pipelines.aws.manifest import Manifest
from pipelines.aws.session import Clients


@dataclass(frozen=True)
class Image:
    digest: str
    tags: tuple[str, ...]
    pushed: datetime | None


def find_image(clients: Clients, manifest: Manifest, given: str) -> Image:
    """The image in the release repository that `given` (a parsed digest or prefix) names."""
    ecr = clients.client("ecr", manifest.toolchain_account, manifest.toolchain_region)
    home = f"{manifest.toolchain_account}, {manifest.toolchain_region}"
    where = f"repository {manifest.repository} ({home})"
    try:
        digest = given if digests.is_full(given) else _resolve_prefix(ecr, manifest, given, where)
        [detail] = ecr.describe_images(
            repositoryName=manifest.repository, imageIds=[{"imageDigest": digest}]
        )["imageDetails"]
    except ClientError as error:
        if error_code(error) == "ImageNotFoundException":
            raise BadInput(f"no image {given} in {where}") from None
        if error_code(error) == "RepositoryNotFoundException":
            raise BadInput(
                f"{where} does not exist: deploy the source stack with `pipelines deploy`"
            ) from None
        raise
    return Image(
        detail["imageDigest"], tuple(detail.get("imageTags", [])), detail.get("imagePushedAt")
    )


def _resolve_prefix(ecr: Any, manifest: Manifest, given: str, where: str) -> str:
    found: list[str] = []
    for page in ecr.get_paginator("list_images").paginate(repositoryName=manifest.repository):
        found += [i["imageDigest"] for i in page.get("imageIds", []) if "imageDigest" in i]
    digest = digests.resolve(given, found, where)
    if digest is None:
        raise BadInput(f"no image {given} in {where}")
    return digest
