"""`pipelines release`: start the pipeline for an image that is already in ECR.

The execution overrides the `Image` source action's revision with the digest (a V2 source
revision override), so it carries exactly that image through every environment, with the same
approvals as a push. Templates come from templates.zip as for any release.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

from pipelines import naming
from pipelines.aws import digests, text
from pipelines.aws.errors import OK, located
from pipelines.aws.images import find_image
from pipelines.aws.manifest import load_manifest
from pipelines.aws.session import Clients


@dataclass(frozen=True)
class ReleaseOptions:
    templates: Path
    digest: str


def release(clients: Clients, options: ReleaseOptions) -> int:
    manifest = load_manifest(options.templates)
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
    tags = ", ".join(image.tags) or "untagged"
    click.echo(
        f"started execution {started['pipelineExecutionId']} of {manifest.pipeline} for "
        f"{manifest.repository}@{image.digest} ({tags}; pushed {text.when(image.pushed)})"
    )
    click.echo("`pipelines status` follows it; it queues behind any execution already running")
    return OK
