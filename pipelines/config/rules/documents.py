"""What every rule reports against: the parsed files, and a problem at a key path of one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pipelines.config.yaml_source import Document
from pipelines.errors import Problem

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Documents:
    """The parsed files a project came from: pipeline.yaml and each environment's, by name."""

    pipeline: Document
    environments: Mapping[str, Document]


def key_of(loc: KeyPath) -> str:
    """`("services", "web", "secrets", 0)` -> `services.web.secrets[0]`: the key as written."""
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else part)
    return key


def problem_at(doc: Document, path: KeyPath, message: str) -> Problem:
    """A problem at `path` of `doc`, on the line of the path (or its nearest written parent)."""
    return Problem(doc.file, doc.line_of(path), key_of(path), message)
