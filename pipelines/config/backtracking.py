"""Which user-written allow-list patterns may be run against a caller's argument.

Python's `re` backtracks: a pattern like `(a+)+$`, `(a|ab)*c` or `a*a*a*$` takes exponential or
high-polynomial time on a crafted argument of the 1,024 characters a token may have. synth
refuses a runner's own pattern of either shape:

- a repeated group (`*`, `+`, or a count over 1) that holds a repetition or an alternation;
- more than MAX_REPEATS long repetitions on one path through the pattern (`x*y*z*`: 10^9
  steps on 1,024 characters). A long repetition is `*`, `+`, `{n,}` or `{n,m}` with m over
  SHORT; alternatives are separate paths.

The rule is conservative: it refuses some patterns that are safe, and the message says how to
write them (bounded counts, fewer repetitions). The built-in runners' patterns are not held to
it: they are ours, and their admission time is measured by the tests.
"""

from __future__ import annotations

import re

MAX_REPEATS = 2
SHORT = 16
_COUNT = re.compile(r"\{(\d*)(,?)(\d*)\}")


class _Group:
    def __init__(self) -> None:
        self.repeats = False  # holds a repetition, directly or deeper
        self.alternation = False
        self.branch = 0  # long repetitions on the current alternative
        self.most = 0  # the most on any alternative so far

    def close_branch(self) -> None:
        self.most = max(self.most, self.branch)
        self.branch = 0


def backtracking_problem(pattern: str) -> str | None:
    """Why `pattern` could take super-linear time on a crafted argument, or None."""
    stack = [_Group()]
    i, closed = 0, None  # closed: the group that ended just before i, if one did
    while i < len(pattern):
        repeats, long, size = _quantifier(pattern, i)
        if size:
            if repeats and closed is not None and (closed.repeats or closed.alternation):
                return (
                    "a repeated group holds a repetition or an alternation, which can backtrack "
                    "on a crafted argument"
                )
            stack[-1].repeats |= repeats
            stack[-1].branch += long
            i += size + (i + size < len(pattern) and pattern[i + size] in "?+")
            closed = None
            continue
        c, closed = pattern[i], None
        if c == "\\":
            i += 2
            continue
        if c == "[":
            i = _class_end(pattern, i)
            continue
        if c == "(":
            stack.append(_Group())
        elif c == ")" and len(stack) > 1:
            closed = stack.pop()
            closed.close_branch()
            stack[-1].repeats |= closed.repeats
            stack[-1].branch += closed.most
        elif c == "|":
            stack[-1].alternation = True
            stack[-1].close_branch()
        i += 1
    stack[0].close_branch()
    if stack[0].most > MAX_REPEATS:
        return (
            f"{stack[0].most} long repetitions (*, +, {{n,}}) in a row can backtrack on a "
            f"crafted argument; use at most {MAX_REPEATS}, or bounded counts like {{1,{SHORT}}}"
        )
    return None


def _quantifier(pattern: str, i: int) -> tuple[bool, int, int]:
    """(whether it repeats more than once, 1 if it is a long repetition, its length) at i."""
    c = pattern[i]
    if c in "*+":
        return True, 1, 1
    if c == "?":
        return False, 0, 1
    if c == "{":
        match = _COUNT.match(pattern, i)
        if match and (match.group(1) or match.group(3)):
            low, comma, high = match.groups()
            most = None if comma and not high else int(high or low)
            long = most is None or most > SHORT
            return most is None or most > 1, int(long), match.end() - i
    return False, 0, 0


def _class_end(pattern: str, i: int) -> int:
    """The index after the character class starting at i."""
    j = i + 1
    if j < len(pattern) and pattern[j] == "^":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1
    while j < len(pattern) and pattern[j] != "]":
        j += 2 if pattern[j] == "\\" else 1
    return j + 1
