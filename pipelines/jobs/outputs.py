"""What a job hands on: output variables, and tool output that can never pass for one."""

from __future__ import annotations

import os

from pipelines.invoker import names


def emit(name: str, value: str) -> None:
    """Hand NAME=VALUE to CodePipeline (via the invoker) and to CodeBuild (via a file)."""
    value = " ".join(str(value).split())  # one line: the invoker reads lines
    print(f"{names.OUTPUT_MARKER} {name}={value}", flush=True)
    path = os.environ.get(names.OUTPUT_FILE_VARIABLE)
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"{name}={value}\n")


def echo(line: str) -> None:
    """Print a line of a tool's output, so that it can never pass for one of our outputs."""
    line = line.rstrip("\n")
    if line.lstrip().startswith(names.OUTPUT_MARKER):
        line = "> " + line
    print(line, flush=True)
