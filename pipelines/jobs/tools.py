"""Running an external tool: from an argv list (never a shell), its output echoed and kept."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pipelines.jobs.outputs import echo


@dataclass(frozen=True)
class RunResult:
    returncode: int
    lines: tuple[str, ...]


ToolRunner = Callable[[Sequence[str]], RunResult]


def run_streaming(argv: Sequence[str]) -> RunResult:
    """Run argv (no shell), echoing its output line by line and keeping it."""
    lines: list[str] = []
    with subprocess.Popen(
        list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            echo(line)
            lines.append(line.rstrip("\n"))
    return RunResult(process.returncode, tuple(lines))
