"""`pipelines release`: start the pipeline for an image that is already in ECR.

The execution overrides the `Image` source action's revision with the digest (a V2 source
revision override), so it carries exactly that image through every environment, with the same
approvals as a push. Templates come from templates.zip as for any release.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipelines import naming
from pipelines.aws import digests
from pipelines.aws.errors import located
from pipelines.aws.images import Image, find_image
from pipelines.aws.manifest import load_manifest
from pipelines.aws.session import Clients


@dataclass(frozen=True)
class ReleaseOptions:
    templates: Path
    digest: str
    image: str | None = None  # required with several images: which pipeline, which repository


@dataclass(frozen=True)
class Started:
    """The execution that carries the image through the pipeline."""

    execution_id: str
    pipeline: str
    repository: str
    image: Image


def release(clients: Clients, options: ReleaseOptions) -> Started:
    manifest = load_manifest(options.templates).for_image(options.image)
    given = digests.parse(options.digest)
    home = (manifest.toolchain_account, manifest.toolchain_region)
    with located(clients.where(*home)):
        image = find_image(clients, manifest, given)
        started = clients.client("codepipeline", *home).start_pipeline_execution(
            name=manifest.pipeline,
            sourceRevisions=[
                {
                    "actionName": naming.IMAGE_ARTIFACT,
                    "revisionType": "IMAGE_DIGEST",
                    "revisionValue": image.digest,
                }
            ],
        )
    return Started(started["pipelineExecutionId"], manifest.pipeline, manifest.repository, image)
