"""The image tags: the release tag pipeline.yaml names, and the release marker's deployed-<env>
and previous tags, all in one ECR repository where a tag names one image at a time."""

from __future__ import annotations

from pipelines import naming
from pipelines.config.models import PipelineFile
from pipelines.config.rules.documents import problem_at
from pipelines.config.yaml_source import Document
from pipelines.errors import Problem


def release_tag_not_deployed_prefix(pipeline: PipelineFile, doc: Document) -> list[Problem]:
    """The release tag does not start like the release marker's tags: ECR would move one tag for
    both, and the marker would read a release as what an environment runs."""
    return [
        problem_at(
            doc,
            (*path, "release_tag"),
            f"{image.release_tag!r} starts with {naming.DEPLOYED_TAG_PREFIX!r}, "
            "which the release marker's tags use (deployed-<env> marks what an environment "
            "runs); choose another release tag",
        )
        for path, image in pipeline.declared_images()
        if image.release_tag.startswith(naming.DEPLOYED_TAG_PREFIX)
    ]


def deployed_tags_distinct(pipeline: PipelineFile, doc: Document) -> list[Problem]:
    """No environment's deployed tag is another's previous-deployed tag: ECR keeps one image per
    tag, so the two environments would move one tag."""
    problems: list[Problem] = []
    current = {naming.deployed_tag(env): env for env in pipeline.promotion}
    for i, env in enumerate(pipeline.promotion):
        other = current.get(naming.previous_deployed_tag(env))
        if other is not None:
            problems.append(
                problem_at(
                    doc,
                    ("promotion", i),
                    f"environments {env!r} and {other!r} would share the image tag "
                    f"{naming.deployed_tag(other)!r} (what {other} runs, and what {env} ran "
                    "before); rename one",
                )
            )
    return problems
