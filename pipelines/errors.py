"""Errors a user can act on. Each carries where it came from, so the CLI can print it plainly."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple


class Problem(NamedTuple):
    """One thing wrong with the input: where it is and what to do about it."""

    file: Path
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else f"{self.file}"
        text = f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"
        return printable(text)


# Control characters (C0, DEL, C1), line and paragraph separators and bidirectional controls:
# what a terminal would act on instead of showing. Input puts them into keys and values.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` with every character a terminal would act on written as an escape."""
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class ConfigError(Exception):
    """The configuration cannot be used. Exit status 2, nothing written."""

    exit_code = 2

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class LimitError(Exception):
    """The generated templates would break a CloudFormation or CodePipeline limit, or another
    AWS rule the conformance rules check."""

    exit_code = 2

    def __init__(self, messages: list[str]) -> None:
        self.messages = messages
        super().__init__("\n".join(messages))


def unknown_name(what: str, name: str, known: Sequence[str]) -> str:
    """`unknown <what> 'name'; did you mean 'x'? (known: ...)`, for a name not among `known`."""
    import difflib  # only input with a mistake gets here

    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    listed = f" (known: {', '.join(sorted(known))})" if known else ""
    return f"unknown {what} {name!r}{hint}{listed}"
