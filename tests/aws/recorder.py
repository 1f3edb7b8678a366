"""A reporter for the deletion verbs' tests (destroy, deploy --prune): it keeps what it is told."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

# The bootstrap image the moto worlds of these tests push before their first deploy.
BOOTSTRAP_DIGEST = "sha256:" + "b0" * 32


class Recorder:
    """Keeps the lines it is told, in order, and the stacks it saw being deleted."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.deleting: list[str] = []

    def info(self, line: str) -> None:
        self.lines.append(line)

    def warning(self, line: str) -> None:
        self.lines.append(line)

    def watching(self, stacks: Any) -> Any:
        return nullcontext()

    def stack_status(self, stack: str, status: str, detail: str = "") -> None:
        if status == "DELETING":
            self.deleting.append(stack)

    def resource_status(self, *args: str) -> None:
        pass
