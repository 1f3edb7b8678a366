"""Copies of the example configuration with small, checked text edits."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support import EXAMPLE

Edits = dict[str, list[tuple[str, str]]]


def edited_example(dest: Path, edits: Edits | None = None) -> Path:
    """Copy environments/ to `dest` and replace text in its files; every `old` must occur once."""
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns(".*"))
    for name, replacements in (edits or {}).items():
        file = dest / name
        text = file.read_text(encoding="utf-8")
        for old, new in replacements:
            assert text.count(old) == 1, f"{old!r} should occur exactly once in {name}"
            text = text.replace(old, new)
        file.write_text(text, encoding="utf-8")
    return dest
