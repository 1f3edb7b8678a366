"""The names of what belongs to one image's pipeline when an app has several images.

Each such name is naming.py's name with the image's name after the app (`shop-web-release`);
with one image (`image` None) it is naming.py's own, so the names an app of one image has always
had never change. A module of its own, beside naming.py rather than in it, because the invoker's
package holds naming.py, and its code key (a hash of the package) would change with it.
"""

from __future__ import annotations

from pipelines import naming


def _of_image(app: str, image: str | None) -> str:
    return app if image is None else f"{app}-{image}"


def pipeline_name(app: str, image: str | None) -> str:
    return naming.pipeline_name(_of_image(app, image))


def pipeline_role(app: str, image: str | None) -> str:
    return naming.pipeline_role(_of_image(app, image))


def trigger_role(app: str, image: str | None) -> str:
    return naming.trigger_role(_of_image(app, image))


def trigger_rule(app: str, image: str | None) -> str:
    return naming.trigger_rule(_of_image(app, image))


def push_role(app: str, image: str | None) -> str:
    return naming.push_role(_of_image(app, image))


def release_marker_function(app: str, image: str | None) -> str:
    return naming.release_marker_function(_of_image(app, image))


def release_marker_role(app: str, image: str | None) -> str:
    return naming.release_marker_role(_of_image(app, image))


def logical_suffix(image: str | None) -> str:
    """What a resource of one image's pipeline adds to its logical ID: nothing with one image,
    so templates keep their IDs; `Web` for image `web` (image names are only a-z and 0-9, so
    two names never give one suffix)."""
    return "" if image is None else image.capitalize()


def longest_names(app: str, image: str) -> list[tuple[str, str, int]]:
    """(what, name, limit) for the length-limited names of one image's pipeline."""
    return [
        ("IAM role", trigger_role(app, image), naming.MAX_ROLE_NAME),
        ("IAM role", release_marker_role(app, image), naming.MAX_ROLE_NAME),
        ("IAM role", push_role(app, image), naming.MAX_ROLE_NAME),
    ]
