"""docs/configuration.md: the reference of the YAML files, rendered from their JSON Schema.

The schema is the one `pipelines schema` prints and editors read (config/schema.py), so every
key, type, default and constraint on the page is the models'. What a key means, beyond its
model's own description, comes from `reference_notes.NOTES`; a note for a key the models do not
have is an error, so a renamed or removed key cannot leave its prose behind. Written by
`python -m tests.regenerate`; a test fails when the committed page differs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from pipelines.config.reference_notes import FOOTER, INTRO, NOTES, SECTION_INTROS
from pipelines.config.schema import json_schema

Schema = dict[str, Any]

FILES = (("pipeline", "environments/pipeline.yaml"), ("environment", "environments/<name>.yaml"))
# The placeholder a map's keys get in a key path, by the map's own key.
PLACEHOLDERS = {
    "services": "<service>",
    "runners": "<runner>",
    "scripts": "<script>",
    "environment": "<VARIABLE>",
    "secrets": "<VARIABLE>",
    "allowed_options": "<option>",
    "conditions": "<operator>",
}


class Row(NamedTuple):
    key: str
    type: str
    default: str
    rule: str


class UnknownNote(Exception):
    """A note names a key the models do not have."""


def _resolve(node: Schema, defs: dict[str, Schema]) -> Schema:
    ref = node.get("$ref")
    if isinstance(ref, str):
        return defs[ref.rsplit("/", 1)[1]]
    return node


def _without_null(node: Schema) -> tuple[list[Schema], bool]:
    """The alternatives of a node, and whether null (leaving the key out) is one of them."""
    alternatives = node.get("anyOf") or node.get("oneOf")
    if not alternatives:
        return [node], False
    kept = [alt for alt in alternatives if alt.get("type") != "null"]
    return kept, len(kept) < len(alternatives)


def _code(text: str) -> str:
    """A table cell's code span; `|` would end the cell."""
    return "`" + text.replace("|", "\\|") + "`"


def _type(node: Schema, defs: dict[str, Schema]) -> str:
    alternatives, _ = _without_null(node)
    if len(alternatives) > 1:
        return " or ".join(dict.fromkeys(_type(alt, defs) for alt in alternatives))
    node = alternatives[0]
    if "$ref" in node:
        return "mapping"
    if "enum" in node:
        return " or ".join(_code(str(value)) for value in node["enum"])
    kind = node.get("type")
    if kind == "array":
        return f"list of {_plural(_type(node.get('items', {}), defs))}"
    if kind == "object":
        values = _map_values(node)
        if values is None:
            return "mapping"
        return f"map of {_plural(_type(values, defs))}"
    return str(kind) if kind else "any"


def _plural(kind: str) -> str:
    words = {"string": "strings", "integer": "integers", "mapping": "mappings"}
    return " or ".join(words.get(part, part) for part in kind.split(" or "))


def _map_values(node: Schema) -> Schema | None:
    """The schema of a map's values, or None for a mapping with fixed keys."""
    patterns = node.get("patternProperties")
    if patterns:
        return dict(next(iter(patterns.values())))
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        return extra
    return None


def _default(node: Schema, required: bool) -> str:
    if required:
        return "required"
    if "default" not in node or node["default"] is None:
        return "none"
    return _code(json.dumps(node["default"], ensure_ascii=False))


def _constraints(node: Schema) -> list[str]:
    """What the schema allows, in words: ranges, lengths, counts, patterns."""
    alternatives, _ = _without_null(node)
    said: list[str] = []
    for alt in alternatives:
        said.extend(_range(alt.get("minimum"), alt.get("maximum"), ""))
        said.extend(_range(alt.get("minLength"), alt.get("maxLength"), " characters"))
        said.extend(_range(alt.get("minItems"), alt.get("maxItems"), " entries"))
        said.extend(_range(alt.get("minProperties"), None, " entries"))
        if alt.get("type") == "array" and isinstance(alt.get("items"), dict):
            said.extend(f"each {c}" for c in _constraints(alt["items"]) if c)
        if "pattern" in alt:
            said.append(f"matches {_code(alt['pattern'])}")
        names = alt.get("propertyNames", {})
        if "enum" in names:
            said.append("keys: " + ", ".join(_code(name) for name in names["enum"]))
        elif alt.get("patternProperties"):
            said.append(f"keys match {_code(next(iter(alt['patternProperties'])))}")
    return said


def _range(low: object, high: object, unit: str) -> list[str]:
    """`1-16 entries` (with an en dash), `at least 1 entry`, `at most 32 characters`, or nothing."""
    if low is not None and high is not None:
        return [f"{low}\u2013{high}{unit}"]
    if low is not None and low != 0:
        one = {" entries": " entry", " characters": " character"}
        return [f"at least {low}{one.get(unit, unit) if low == 1 else unit}"]
    if high is not None:
        return [f"at most {high}{unit}"]
    return []


def _examples(node: Schema) -> list[str]:
    alternatives, _ = _without_null(node)
    found: list[str] = []
    for alt in alternatives:
        found.extend(str(example) for example in alt.get("examples", []))
        if alt.get("type") == "array" and isinstance(alt.get("items"), dict):
            found.extend(_examples(alt["items"]))
    return found


def _rule(kind: str, key: str, node: Schema, parent: Schema, used: set[str]) -> str:
    parts = []
    description = node.get("description") or ""
    if not description and "$ref" in node:
        description = parent.get("description", "")
    if description:
        parts.append(" ".join(description.split()))
    note = NOTES.get(f"{kind}:{key}")
    if note is not None:
        used.add(f"{kind}:{key}")
        parts.append(" ".join(note.split()))
    constraints = _constraints(node)
    if constraints:
        parts.append("Allowed: " + "; ".join(constraints) + ".")
    examples = _examples(node)
    if examples:
        parts.append("Example: " + ", ".join(_code(e) for e in examples) + ".")
    return " ".join(parts)


def _rows(
    kind: str, prefix: str, node: Schema, defs: dict[str, Schema], used: set[str]
) -> Iterator[Row]:
    """One row per key of the mapping `node`, depth first, with the keys of nested mappings."""
    required = set(node.get("required", []))
    for name, child in node.get("properties", {}).items():
        key = f"{prefix}{name}"
        yield from _key_rows(kind, key, name, child, name in required, defs, used)


def _key_rows(
    kind: str,
    key: str,
    name: str,
    child: Schema,
    required: bool,
    defs: dict[str, Schema],
    used: set[str],
) -> Iterator[Row]:
    alternatives, _ = _without_null(child)
    resolved = [_resolve(alt, defs) for alt in alternatives]
    described = resolved[0] if len(resolved) == 1 else {}
    yield Row(
        _code(key),
        _type(child, defs),
        _default(child, required),
        _rule(kind, key, child, described, used),
    )
    for alt, target in zip(alternatives, resolved, strict=True):
        if target.get("properties") and ("$ref" in alt or alt.get("type") == "object"):
            yield from _rows(kind, f"{key}.", target, defs, used)
        elif target.get("type") == "array" and isinstance(target.get("items"), dict):
            yield from _nested(kind, f"{key}[]", target["items"], defs, used)
        elif target.get("type") == "object":
            values = _map_values(target)
            if values is not None:
                slot = f"{key}.{PLACEHOLDERS.get(name, '<name>')}"
                yield from _nested(kind, slot, values, defs, used)


def _nested(
    kind: str, key: str, node: Schema, defs: dict[str, Schema], used: set[str]
) -> Iterator[Row]:
    """The keys of the mappings a list or map holds, under `key` (`x[]`, `x.<name>`)."""
    alternatives, _ = _without_null(node)
    for alt in alternatives:
        target = _resolve(alt, defs)
        if target.get("properties"):
            if len(alternatives) > 1:
                title = target.get("title", "mapping")
                yield Row(_code(key), f"mapping ({title})", "", _rule(kind, key, alt, target, used))
            yield from _rows(kind, f"{key}.", target, defs, used)


def rows(kind: str, used: set[str]) -> list[Row]:
    """The reference rows of one kind of file, `pipeline` or `environment`."""
    schema = json_schema(kind)
    return list(_rows(kind, "", schema, schema.get("$defs", {}), used))


def _table(found: list[Row]) -> str:
    lines = ["| key | type | default | what it is |", "|---|---|---|---|"]
    lines.extend(f"| {r.key} | {r.type} | {r.default} | {r.rule} |" for r in found)
    return "\n".join(lines)


def _example(root: Path) -> str:
    """The example's files as they are, so the page shows what `pipelines synth` reads."""
    parts = []
    for path in sorted((root / "environments").glob("*.yaml"), key=_example_order):
        text = path.read_text(encoding="utf-8").rstrip("\n")
        parts.append(f"`environments/{path.name}`:\n\n```yaml\n{text}\n```")
    return "\n\n".join(parts)


def _example_order(path: Path) -> tuple[int, str]:
    order = ["pipeline", "dev", "staging", "prod"]
    return (order.index(path.stem) if path.stem in order else len(order), path.stem)


def page(root: Path) -> str:
    """The whole of docs/configuration.md, for the checkout at `root` (which holds the example)."""
    used: set[str] = set()
    sections = [INTRO.strip()]
    for kind, title in FILES:
        sections.append(f"## `{title}`")
        sections.append(SECTION_INTROS[kind].strip())
        sections.append(_table(rows(kind, used)))
    sections.append(FOOTER.strip())
    sections.append("## The example\n\n" + _example(root))
    unknown = sorted(set(NOTES) - used)
    if unknown:
        raise UnknownNote(
            "notes for keys the models do not have (pipelines/config/reference_notes.py): "
            + ", ".join(unknown)
        )
    return "\n\n".join(sections) + "\n"
