"""Plain-text rendering shared by the verbs: aligned columns, times, change lists."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from pipelines.aws.cloudformation import Change


def table(rows: Sequence[Sequence[str]], indent: str = "") -> list[str]:
    """Columns padded to the widest cell; the first row is the header."""
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def when(moment: datetime | None) -> str:
    """A UTC time to the minute, the way every verb prints it."""
    if moment is None:
        return "-"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def changes(items: Sequence[Change], indent: str = "    ") -> list[str]:
    rows = [("action", "resource", "type", "replacement")]
    for c in items:
        rows.append((c.action, c.logical_id, c.resource_type, c.replacement or "-"))
    return table(rows, indent)
