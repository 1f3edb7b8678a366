"""What a person watches while stacks change: a live table on a terminal, plain lines elsewhere.

On a terminal, rich redraws one row per stack with its status and latest resource event. In CI
logs and pipes, every event is one line, so the log reads as a history.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table

from pipelines.aws.cloudformation import STACK_TYPE


class Progress:
    """Thread-safe sink for stack events from the workers of one wave."""

    def __init__(self, stacks: list[str], console: Console | None = None) -> None:
        self._console = console or Console(highlight=False)
        self._lock = threading.Lock()
        self._rows: dict[str, tuple[str, str]] = {name: ("waiting", "") for name in stacks}
        self._live: Live | None = None

    @property
    def interactive(self) -> bool:
        return self._console.is_terminal

    @contextmanager
    def shown(self) -> Iterator[Progress]:
        if not self.interactive:
            yield self
            return
        with Live(self._table(), console=self._console, refresh_per_second=4) as live:
            self._live = live
            try:
                yield self
            finally:
                live.update(self._table())
                self._live = None

    def status(self, stack: str, status: str, detail: str = "") -> None:
        with self._lock:
            if self._rows.get(stack, ("", ""))[0] == status and not detail:
                return  # the final status often arrives as an event first
            self._rows[stack] = (status, detail)
            if self._live is not None:
                self._live.update(self._table())
            else:
                click.echo(_line(stack, status, detail))

    def event(self, stack: str, event: dict[str, Any]) -> None:
        status = event.get("ResourceStatus", "")
        if event.get("ResourceType") == STACK_TYPE and event.get("LogicalResourceId") == stack:
            self.status(stack, status, event.get("ResourceStatusReason", ""))
            return
        detail = f"{event.get('LogicalResourceId', '')} ({event.get('ResourceType', '')})"
        reason = event.get("ResourceStatusReason")
        if reason:
            detail += f": {reason}"
        with self._lock:
            current = self._rows.get(stack, ("", ""))[0]
            self._rows[stack] = (current, f"{status} {detail}")
            if self._live is not None:
                self._live.update(self._table())
            else:
                click.echo(_line(stack, status, detail))

    def _table(self) -> Table:
        table = Table(box=None, show_header=True, header_style="bold")
        table.add_column("stack", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("latest event", overflow="ellipsis", no_wrap=True)
        for stack, (status, detail) in self._rows.items():
            style = "red" if "FAILED" in status or "ROLLBACK" in status else None
            table.add_row(stack, status, detail, style=style)
        return table


def _line(stack: str, status: str, detail: str) -> str:
    return f"  {stack}  {status}  {detail}".rstrip()
