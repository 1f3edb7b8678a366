"""Policy documents as IAM and the resource services measure them, and as IAM evaluates them.

A template's policy holds intrinsic functions that CloudFormation resolves at deploy time. Sizes
are counted on the resolved text: pseudo parameters resolve to the stack's own account, region
and partition; anything made at deploy time (a Ref or GetAtt of a resource, an import) counts as
UNRESOLVED_CHARS, more than any ARN our templates make reaches, so a count is never below what
AWS will measure.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from operator import eq
from typing import Any, NamedTuple

from pipelines.conformance.model import StackTemplate

UNRESOLVED_CHARS = 200
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


def resolved(
    value: Any, stack: StackTemplate, fixed: Mapping[str, tuple[str, str]] | None = None
) -> Any:
    """`value` with every intrinsic function replaced by its text, or a stand-in as long as
    the longest value it can take. `fixed`: resources of the stack whose name and ARN the
    template fixes (logical id -> (name, ARN)), so that their Ref and Fn::GetAtt Arn resolve
    to those."""
    if isinstance(value, list):
        return [resolved(v, stack, fixed) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, argument),) = value.items()
        if key == "Ref":
            if fixed and argument in fixed:
                return fixed[argument][0]
            return _pseudo(argument, stack)
        if key == "Fn::GetAtt" and fixed and argument[0] in fixed and argument[1] == "Arn":
            return fixed[argument[0]][1]
        if key == "Fn::Sub":
            text = argument if isinstance(argument, str) else argument[0]
            return _SUB_VARIABLE.sub(lambda m: _pseudo(m.group(1), stack), text)
        if key == "Fn::Join":
            separator, parts = argument
            return separator.join(str(resolved(p, stack, fixed)) for p in parts)
        if key.startswith("Fn::"):
            return "x" * UNRESOLVED_CHARS
    return {k: resolved(v, stack, fixed) for k, v in value.items()}


def _pseudo(name: str, stack: StackTemplate) -> str:
    known = {
        "AWS::AccountId": stack.account,
        "AWS::Region": stack.region,
        "AWS::Partition": stack.partition,
        "AWS::StackName": stack.name,
        "AWS::URLSuffix": "amazonaws.com.cn" if stack.partition == "aws-cn" else "amazonaws.com",
    }
    return known.get(name, "x" * UNRESOLVED_CHARS)


def iam_characters(document: Any, stack: StackTemplate) -> int:
    """A policy's size as IAM counts it: the JSON text without white space."""
    text = json.dumps(resolved(document, stack), separators=(",", ":"), ensure_ascii=False)
    return len("".join(text.split()))  # str.split() splits at what str.isspace() is


def utf8_bytes(document: Any, stack: StackTemplate) -> int:
    """A resource policy's size as the services that cap it in bytes count it."""
    text = json.dumps(resolved(document, stack), separators=(",", ":"), ensure_ascii=False)
    return len(text.encode())


# Statements -------------------------------------------------------------------------------------


def statements(document: Any) -> list[dict[str, Any]]:
    """A policy document's statements (a lone statement object counts as a list of one)."""
    if not isinstance(document, dict):
        return []
    found = document.get("Statement", [])
    return [found] if isinstance(found, dict) else [s for s in found if isinstance(s, dict)]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_statements(role: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every statement of a role's inline policies."""
    for policy in role.get("Properties", {}).get("Policies", []):
        yield from statements(policy.get("PolicyDocument"))


def matches(pattern: str, text: str) -> bool:
    """IAM's wildcard match: `*` any run of characters, `?` any one, case-sensitive."""
    return bool(_wildcard(pattern)(text))


def action_matches(pattern: str, action: str) -> bool:
    """Action names are case-insensitive in IAM."""
    return bool(_wildcard(pattern.lower())(action.lower()))


Matcher = Callable[[str], object]  # truthy where the text matches


@functools.lru_cache(maxsize=4096)
def _wildcard(pattern: str) -> Matcher:
    """A test of a whole text against `pattern`, with no regular expression: compiling one per
    pattern was a fifth of a small app's synth, and IAM's two wildcards need none."""
    if "*" not in pattern and "?" not in pattern:
        return functools.partial(eq, pattern)
    return functools.partial(_glob, tuple(pattern.split("*")))


def _glob(parts: tuple[str, ...], text: str) -> bool:
    """Whether `text` is the parts joined by runs of any characters, each `?` any one character.

    The first part must start the text and the last end it; each part between is taken at its
    leftmost place after the one before, which leaves the most room for the parts after it, so
    a match exists exactly when this finds one.
    """
    if len(parts) == 1:  # no `*`: character for character
        return len(text) == len(parts[0]) and _same(parts[0], text, 0)
    first, *middle, last = parts
    end = len(text) - len(last)
    if end < len(first) or not _same(first, text, 0) or not _same(last, text, end):
        return False
    position = len(first)
    for part in middle:
        found = _find(part, text, position, end)
        if found < 0:
            return False
        position = found + len(part)
    return True


def _same(part: str, text: str, at: int) -> bool:
    """Whether `part` (where `?` is any one character) is the text at `at`."""
    if "?" not in part:
        return text.startswith(part, at)
    if at + len(part) > len(text):
        return False
    return all(p in ("?", c) for p, c in zip(part, text[at : at + len(part)], strict=True))


def _find(part: str, text: str, start: int, end: int) -> int:
    """The first place from `start` where `part` lies wholly before `end`, or -1."""
    if "?" not in part:
        return text.find(part, start, end)
    for at in range(start, end - len(part) + 1):
        if _same(part, text, at):
            return at
    return -1


class Prepared(NamedTuple):
    """A statement ready to evaluate many times: its patterns made matchers, its ARNs resolved."""

    deny: bool
    actions: tuple[Matcher, ...]
    resources: tuple[Matcher, ...]
    condition: dict[str, Any]


def prepare(policy: Iterable[dict[str, Any]], stack: StackTemplate) -> list[Prepared]:
    return [
        Prepared(
            statement.get("Effect") == "Deny",
            tuple(_wildcard(str(a).lower()) for a in as_list(statement.get("Action", []))),
            tuple(
                _wildcard(str(r)) for r in as_list(resolved(statement.get("Resource", []), stack))
            ),
            statement.get("Condition", {}),
        )
        for statement in policy
    ]


def for_action(policy: Sequence[Prepared], action: str) -> list[Prepared]:
    """The statements of `policy` that name `action`: all that `allowed` needs for it, for a
    caller that asks about one action on many resources."""
    action = action.lower()
    return [s for s in policy if any(p(action) for p in s.actions)]


def allowed(
    policy: Sequence[Prepared], action: str, resource: str, context: dict[str, str] | None = None
) -> bool:
    """Whether these identity-policy statements allow `action` on `resource`.

    Conditions on a key of `context` are evaluated (the equality and pattern operators); any
    other condition is taken as met by an Allow and as not met by a Deny: the question asked
    here is whether a permission can be granted at all.
    """
    action = action.lower()
    granted = False
    for statement in policy:
        if not any(p(action) for p in statement.actions):
            continue
        if not any(p(resource) for p in statement.resources):
            continue
        met = _conditions_met(statement.condition, context or {})
        if statement.deny:
            if met is True:
                return False
        elif met is not False:
            granted = True
    return granted


_COMPARE = {
    "StringEquals": lambda pattern, value: pattern == value,
    "ArnEquals": lambda pattern, value: pattern == value,
    "StringLike": matches,
    "ArnLike": matches,
}


def _conditions_met(condition: dict[str, Any], context: dict[str, str]) -> bool | None:
    """True: every condition is met; False: one is not; None: one cannot be told here."""
    result: bool | None = True
    for operator, body in condition.items():
        for key, values in body.items():
            compare = _COMPARE.get(operator)
            if compare is None or key not in context:
                result = None
                continue
            if not any(compare(str(v), context[key]) for v in as_list(values)):
                return False
    return result


def allowed_anywhere(policy: list[dict[str, Any]], action: str) -> bool:
    """Whether some unconditioned-or-conditioned Allow statement grants `action` at all."""
    return any(
        statement.get("Effect") == "Allow"
        and any(action_matches(a, action) for a in as_list(statement.get("Action", [])))
        for statement in policy
    )
