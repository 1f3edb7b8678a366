"""The YAML contract: reading environments/ into a validated Project.

The names below load on first use: the runner's modules import `pipelines.config.aws_facts`,
which must not pull in the loader (it imports the runner's allow-list in turn), and the invoker
Lambda carries aws_facts without the rest of this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.config.loader import load_project
    from pipelines.config.models import Environment, Project

__all__ = ["Environment", "Project", "load_project"]


def __getattr__(name: str) -> Any:
    if name == "load_project":
        from pipelines.config.loader import load_project

        return load_project
    if name in ("Environment", "Project"):
        from pipelines.config import models

        return getattr(models, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
