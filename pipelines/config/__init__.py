"""The YAML contract: reading environments/ into a validated Project."""

from pipelines.config.loader import load_project
from pipelines.config.models import Environment, Project

__all__ = ["Environment", "Project", "load_project"]
