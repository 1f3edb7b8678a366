"""Whatever is done to the example, synth either succeeds or says what is wrong, and where.

Each example copies environments/ to a fresh directory, mutates it (structural edits of the
parsed YAML, then raw edits of the text and files), and synthesizes it. The only outcomes
allowed are clean JSON templates, or a ConfigError/LimitError; never any other exception.
"""

from __future__ import annotations

import copy
import json
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pipelines.config.schema import json_schema
from pipelines.config.yaml_source import read_document
from pipelines.errors import ConfigError, LimitError, Problem
from pipelines.synth import synthesize
from tests.support import EXAMPLE

FILES = {p.name: p.read_text(encoding="utf-8") for p in sorted(EXAMPLE.glob("*.yaml"))}
# Parsed as the loader parses them: keys stay text (PyYAML's own loader would read `on:` as True).
PARSED = {p.name: read_document(p).data for p in sorted(EXAMPLE.glob("*.yaml"))}


def _property_names(schema: Any) -> set[str]:
    """Every key that some object in a JSON Schema allows."""
    if isinstance(schema, list):
        return set().union(*map(_property_names, schema))
    if not isinstance(schema, dict):
        return set()
    properties = schema.get("properties")
    own = set(properties) if isinstance(properties, dict) else set()
    return own.union(*map(_property_names, schema.values()))


# Every key the contract knows (and some names), so renames and additions look plausible.
KNOWN_KEYS = sorted(
    _property_names(json_schema("pipeline"))
    | _property_names(json_schema("environment"))
    | {"web", "api", "dev", "staging", "prod"}
)
# Values that pass some checks, so mutations reach beyond the first validator.
PLAUSIBLE_NUMBERS = [0, 1, 10, 256, 512, 1024, 2048, 4096, 16384, 50000, 65535]
PLAUSIBLE_STRINGS = [
    *["", "web", "api", "dev", "prod", "/", "/api/*", "release", "shop.example.com"],
    *["eu-west-1", "us-east-1", "cn-north-1", "us-gov-west-1"],
    *["111111111111", "222222222222", "333333333333"],
    *["sg-0123456789abcdef0", "vpc-0123456789abcdef0", "subnet-0123456789abcdef0"],
    *["arn:aws:iam::444444444444:role/ci", "arn:aws-cn:iam::444444444444:root"],
    "arn:aws:secretsmanager:eu-west-1:222222222222:secret:shop/db",
    "arn:aws-cn:ssm:cn-north-1:222222222222:parameter/shop/db",
    "arn:aws:elasticloadbalancing:eu-west-1:222222222222:listener/app/shop/0123/4567",
]
PLAUSIBLE_STRUCTURES: list[Any] = [
    ["dev", "prod"],
    ["dev", "staging", "staging", "prod"],
    {"web": {}},
    {"api": {"port": 9090}},
    {"api": {"port": 9090, "path": "/api/*"}},
    {"path": "/healthz"},
]
PLAUSIBLE = [*PLAUSIBLE_NUMBERS, *PLAUSIBLE_STRINGS, *PLAUSIBLE_STRUCTURES]

scalars = st.one_of(
    st.integers(min_value=-(2**31), max_value=2**31),
    st.integers(min_value=2**63, max_value=2**200),
    st.text(max_size=30),
    st.text(alphabet=st.characters(min_codepoint=0x80, max_codepoint=0x2FFFF), max_size=10),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)
values = st.one_of(
    st.sampled_from(PLAUSIBLE).map(copy.deepcopy),  # later edits must not change PLAUSIBLE
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(
        st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=8)), scalars, max_size=3
    ),
)
key_names = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(min_size=1, max_size=20))

Path_ = tuple[str | int, ...]


def all_paths(node: Any, path: Path_ = ()) -> list[Path_]:
    """Every path to a value in `node`, the root (()) included."""
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += all_paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += all_paths(value, (*path, i))
    return found


def at(node: Any, path: Path_) -> Any:
    for part in path:
        node = node[part]
    return node


def misspell(draw: Any, name: str) -> str:
    """A near miss: a character dropped, doubled or swapped with its neighbour."""
    if len(name) < 2:
        return name + name
    i = draw(st.integers(0, len(name) - 2))
    how = draw(st.sampled_from(["drop", "double", "swap"]))
    if how == "drop":
        return name[:i] + name[i + 1 :]
    if how == "double":
        return name[:i] + name[i] + name[i:]
    return name[:i] + name[i + 1] + name[i] + name[i + 2 :]


def mutate_structure(draw: Any, data: dict[str, Any]) -> str:
    """One structural edit of one parsed file. Returns a description for the failure report."""
    name = draw(st.sampled_from(sorted(data)))
    doc = data[name]
    paths = all_paths(doc)
    what = draw(st.sampled_from(["delete", "rename", "replace", "duplicate", "add"]))
    if what == "replace":
        path = draw(st.sampled_from(paths))
        value = draw(values)
        if path:
            at(doc, path[:-1])[path[-1]] = value
        else:
            data[name] = value
        return f"{name}: {path} = {value!r}"
    if what == "delete" and len(paths) > 1:
        path = draw(st.sampled_from(paths[1:]))
        del at(doc, path[:-1])[path[-1]]
        return f"{name}: del {path}"
    if what == "rename":
        keyed = [p for p in paths if p and isinstance(p[-1], str)]
        if keyed:
            path = draw(st.sampled_from(keyed))
            old = str(path[-1])
            new = draw(st.one_of(key_names, st.just(misspell(draw, old))))
            parent = at(doc, path[:-1])
            # keep the order of keys, so the rename is all that changes
            items = [(new if k == old else k, v) for k, v in parent.items() if k != new or k == old]
            parent.clear()
            parent.update(items)
            return f"{name}: rename {path} -> {new!r}"
    if what == "duplicate":
        lists = [p for p in paths if isinstance(at(doc, p), list) and at(doc, p)]
        if lists:
            path = draw(st.sampled_from(lists))
            items = at(doc, path)
            i = draw(st.integers(0, len(items) - 1))
            items.insert(i, items[i])
            return f"{name}: duplicate {path}[{i}]"
    mappings = [p for p in paths if isinstance(at(doc, p), dict)]
    if mappings:
        path = draw(st.sampled_from(mappings))
        key, value = draw(key_names), draw(values)
        at(doc, path)[key] = value
        return f"{name}: add {path}.{key!r} = {value!r}"
    return f"{name}: unchanged"


def mutate_text(draw: Any, files: dict[str, str | bytes]) -> str:
    """One raw edit: drop or add a file, duplicate a line, or insert garbage text or bytes."""
    name = draw(st.sampled_from(sorted(files)))
    what = draw(st.sampled_from(["drop", "add", "garbage", "bytes", "duplicate-line"]))
    if what == "drop":
        del files[name]
        return f"drop {name}"
    if what == "add":
        new = draw(st.sampled_from(["qa.yaml", "extra.yml", "notes.txt", f"{name}.yaml"]))
        files[new] = draw(st.sampled_from([*FILES.values(), "", "{}", "[]", "- a"]))
        return f"add {new}"
    text = files[name]
    if isinstance(text, bytes):
        return "unchanged"
    if what == "bytes":
        files[name] = text.encode() + draw(st.binary(min_size=1, max_size=8)) + b"\xff"
        return f"{name}: append bytes"
    lines = text.splitlines(keepends=True)
    i = draw(st.integers(0, max(len(lines) - 1, 0)))
    if what == "duplicate-line" and lines:
        lines.insert(i, lines[i])
        files[name] = "".join(lines)
        return f"{name}: duplicate line {i + 1}"
    garbage = draw(
        st.one_of(
            st.text(max_size=20),
            st.sampled_from(["\t", ":", "- ", "  x: 1\n", "&a [*a]", "<<: {}", "'", "{", "%"]),
        )
    )
    offset = draw(st.integers(0, len(text)))
    files[name] = text[:offset] + garbage + text[offset:]
    return f"{name}: insert {garbage!r} at {offset}"


def line_count(file: Path) -> int:
    """Lines as an editor shows them, with YAML's line breaks (NEL, LS, PS included)."""
    # An undecodable file's problem names the line of its first bad byte: count around it.
    text = file.read_bytes().decode("utf-8", errors="replace")
    lines = re.split("\r\n|[\r\n\x85\u2028\u2029]", text)
    return len(lines) - (len(lines) > 1 and lines[-1] == "")


def check_problem(problem: Problem, directory: Path) -> None:
    assert isinstance(problem, Problem)
    assert problem.message, problem
    assert problem.file == directory or problem.file.parent == directory, problem
    if problem.file != directory:
        assert problem.file.exists() or problem.message == "file not found", problem
    if problem.line is not None:
        assert 1 <= problem.line <= line_count(problem.file), problem
    assert str(problem).startswith(str(problem.file)), problem


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_any_mutation_synthesizes_or_reports_problems_in_the_files(data: st.DataObject) -> None:
    parsed = json.loads(json.dumps(PARSED))  # a deep copy
    changes = [mutate_structure(data.draw, parsed) for _ in range(data.draw(st.integers(0, 3)))]
    files: dict[str, str | bytes] = {
        name: FILES[name]
        if doc == PARSED[name]
        else yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
        for name, doc in parsed.items()
    }
    changes += [mutate_text(data.draw, files) for _ in range(data.draw(st.integers(0, 2)))]
    data.draw(st.just(changes), label="changes")

    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp) / "environments"
        directory.mkdir()
        for name, content in files.items():
            path = directory / name
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")

        try:
            synthesis = synthesize(directory)
        except ConfigError as error:
            event("ConfigError")
            assert error.problems
            for problem in error.problems:
                check_problem(problem, directory)
        except LimitError as error:
            event("LimitError")
            assert error.messages
            assert all(isinstance(m, str) and m for m in error.messages)
        else:
            event("synthesized")
            assert synthesis.files
            for name, body in synthesis.files.items():
                if name.endswith(".json"):  # invoker.zip is the Lambda's package
                    json.loads(body)
