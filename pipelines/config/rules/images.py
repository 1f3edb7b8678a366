"""The images of pipeline.yaml: `image` or `images`, which image each service runs, and the
repositories, each of which starts one pipeline."""

from __future__ import annotations

import json

from pipelines.config.models import EnvironmentFile, PipelineFile, StepEntry
from pipelines.config.rules.documents import KeyPath, problem_at
from pipelines.config.runners import PHASES
from pipelines.config.yaml_source import Document
from pipelines.errors import Problem, unknown_name


def one_image_form(pipeline: PipelineFile, doc: Document) -> list[Problem]:
    """Exactly one of `image` and `images`: with both, which repository a service runs from
    would depend on a precedence nobody wrote down."""
    if pipeline.image is not None and pipeline.images is not None:
        return [
            problem_at(
                doc,
                ("images",),
                "write either `image` (one image) or `images` (several, by name), not both",
            )
        ]
    if pipeline.image is None and pipeline.images is None:
        return [missing_image(doc)]
    return []


def missing_image(doc: Document) -> Problem:
    """Neither `image` nor `images`: also reported beside the schema's own problems, as a
    required key is, since the schema alone cannot require one of two keys."""
    return problem_at(
        doc,
        ("image",),
        "missing required key: write `image` (the repository every service runs), or "
        "`images` (several repositories, by name)",
    )


def services_name_known_images(pipeline: PipelineFile, doc: Document) -> list[Problem]:
    """Each service names one of `images` when there are several; a service names no image
    with the one `image`; every image of `images` is some service's (a pipeline that deploys
    nothing would still run on every push)."""
    problems: list[Problem] = []
    images = pipeline.images
    for service, spec in pipeline.services.items():
        path = ("services", service, "image")
        if images is None:
            if spec.image is not None and pipeline.image is not None:
                problems.append(
                    problem_at(
                        doc,
                        path,
                        "a service names its image only with `images`; with `image`, every "
                        "service runs that one image: remove this key",
                    )
                )
        elif spec.image is None and len(images) > 1:
            problems.append(
                problem_at(
                    doc,
                    path,
                    "missing required key: with several images, name the one this service runs "
                    f"({', '.join(sorted(images))})",
                )
            )
        elif spec.image is not None and spec.image not in images:
            problems.append(problem_at(doc, path, unknown_name("image", spec.image, list(images))))
    if images is not None and not problems:
        used = {spec.image or next(iter(images)) for spec in pipeline.services.values()}
        problems += [
            problem_at(
                doc,
                ("images", name),
                f"no service runs image {name!r}: its pipeline would deploy nothing; name it in "
                "a service's `image`, or remove it",
            )
            for name in images
            if name not in used
        ]
    return problems


def repositories_distinct(pipeline: PipelineFile, doc: Document) -> list[Problem]:
    """Two images never share a repository: a push to it would start both pipelines, and one
    digest would be released as two images."""
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for name, image in (pipeline.images or {}).items():
        other = seen.setdefault(image.repository, name)
        if other != name:
            problems.append(
                problem_at(
                    doc,
                    ("images", name, "repository"),
                    f"images {other!r} and {name!r} both name repository {image.repository!r}; "
                    "each image needs its own",
                )
            )
    return problems


def steps_name_their_image(
    pipeline: PipelineFile, env_name: str, env_file: EnvironmentFile, doc: Document
) -> list[Problem]:
    """With several images, each step names the image whose pipeline runs it (a step runs in
    exactly one pipeline, and a runner of the `release` image runs that pipeline's image); with
    one `image` a step names none (there is nothing to choose)."""
    problems: list[Problem] = []
    images = pipeline.images
    for phase in PHASES:
        for index, item in enumerate(getattr(env_file.steps, phase)):
            path: KeyPath = ("steps", phase, index)
            named = item.image if isinstance(item, StepEntry) else None
            if images is None:
                if named is not None:
                    problems.append(
                        problem_at(
                            doc,
                            (*path, "image"),
                            "a step names its image only with `images`; with `image`, every "
                            "step runs in that image's one pipeline: remove this key",
                        )
                    )
            elif named is not None:
                if named not in images:
                    problems.append(
                        problem_at(
                            doc, (*path, "image"), unknown_name("image", named, list(images))
                        )
                    )
            elif len(images) > 1:
                choices = ", ".join(sorted(images))
                if isinstance(item, StepEntry):
                    problems.append(
                        problem_at(
                            doc,
                            (*path, "image"),
                            "missing required key: with several images, name the image whose "
                            f"pipeline runs this step ({choices})",
                        )
                    )
                else:
                    problems.append(
                        problem_at(
                            doc,
                            path,
                            "with several images, each step names the image whose pipeline runs "
                            f"it: write `{{run: {json.dumps(item)}, image: NAME}}` ({choices})",
                        )
                    )
    return problems
