"""Everything in one AWS partition: a pipeline cannot cross from aws to aws-cn or aws-us-gov."""

from __future__ import annotations

from pipelines.aws_facts import partition_of
from pipelines.config.models import EnvironmentFile, PipelineFile
from pipelines.config.rules.documents import problem_at
from pipelines.config.yaml_source import Document
from pipelines.errors import Problem


def region_in_toolchain_partition(
    pipeline: PipelineFile, name: str, env: EnvironmentFile, doc: Document
) -> list[Problem]:
    """The environment's region is in the toolchain's partition: IAM trust, cross-account
    artifact buckets and CodePipeline's cross-region actions all stop at a partition's edge."""
    partition = partition_of(env.region)
    toolchain_partition = partition_of(pipeline.toolchain.region)
    if partition == toolchain_partition:
        return []
    return [
        problem_at(
            doc,
            ("region",),
            f"{env.region} is in the {partition} partition and the toolchain's "
            f"{pipeline.toolchain.region} in {toolchain_partition}; one pipeline cannot deploy "
            "across partitions",
        )
    ]


def push_principals_in_toolchain_partition(pipeline: PipelineFile, doc: Document) -> list[Problem]:
    """Each principal allowed to push the image is in the toolchain's partition: an ECR
    repository policy cannot name a principal of another partition."""
    partition = partition_of(pipeline.toolchain.region)
    return [
        problem_at(
            doc,
            (*path, "push_principals", i),
            f"{arn} is not in the toolchain's partition ({partition})",
        )
        for path, image in pipeline.declared_images()
        for i, arn in enumerate(image.push_principals)
        if arn.split(":")[1] != partition
    ]
