"""How a verb tells whoever runs it what is happening, without printing: the `Reporter`.

The verbs return what they did as a result; while they work, they report progress to a
Reporter. The command line's reporter prints (pipelines/console.py: a live table of the stacks
on a terminal, one line per event elsewhere); a program that calls a verb passes its own, or
none (`SILENT`). Stacks change in worker threads, so a reporter must take calls from several
threads at once.

Only the standard library here: `pipelines run` reports through it and imports no botocore.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol


class Reporter(Protocol):
    def info(self, line: str) -> None:
        """A line of what the verb does or found (standard output on the command line)."""

    def warning(self, line: str) -> None:
        """A line that warns, or says what failed and what to do (standard error)."""

    def watching(self, stacks: Sequence[str]) -> AbstractContextManager[object]:
        """These stacks start changing at once; they are done when the context exits."""

    def stack_status(self, stack: str, status: str, detail: str = "") -> None:
        """A stack being watched is in `status` (EXECUTING, UPDATE_COMPLETE, ...)."""

    def resource_status(
        self, stack: str, resource: str, resource_type: str, status: str, reason: str = ""
    ) -> None:
        """An event of one of the stack's resources."""


class Silent:
    """The reporter of a caller that wants only the result."""

    def info(self, line: str) -> None:
        pass

    def warning(self, line: str) -> None:
        pass

    def watching(self, stacks: Sequence[str]) -> AbstractContextManager[object]:
        return nullcontext()

    def stack_status(self, stack: str, status: str, detail: str = "") -> None:
        pass

    def resource_status(
        self, stack: str, resource: str, resource_type: str, status: str, reason: str = ""
    ) -> None:
        pass


SILENT: Reporter = Silent()


def report_event(reporter: Reporter, stack: str, event: dict[str, Any]) -> None:
    """A CloudFormation stack event, as the stack's own status or as one of its resource's."""
    from pipelines.aws.cloudformation import STACK_TYPE

    status = event.get("ResourceStatus", "")
    if event.get("ResourceType") == STACK_TYPE and event.get("LogicalResourceId") == stack:
        reporter.stack_status(stack, status, event.get("ResourceStatusReason", ""))
        return
    reporter.resource_status(
        stack,
        event.get("LogicalResourceId", ""),
        event.get("ResourceType", ""),
        status,
        event.get("ResourceStatusReason") or "",
    )
