"""YAML to plain Python, remembering the line of every key so errors can point at it."""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from pipelines.errors import ConfigError, Problem

try:  # the C loader is several times faster; fall back where libyaml is missing
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader

Path_ = tuple[str | int, ...]
# Generous ceilings for a configuration file, checked before and while it is read, so that no
# input can make synth block, recurse without end, or take memory out of proportion.
MAX_VALUES = 100_000
MAX_FILE_BYTES = 1_048_576
MAX_EXPANDED_BYTES = 4 * 1_048_576  # scalar text after aliases are expanded
MAX_DEPTH = 64
MAX_INT_BITS = 64


class Document(NamedTuple):
    """A parsed YAML file: its data and the 1-based line of every key path in it."""

    file: Path
    data: Any
    lines: dict[Path_, int]

    def line_of(self, path: Path_) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None


def read_document(file: Path) -> Document:
    text = _read_text(file)
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        last = _line_count(text)
        if line is not None and line > last:  # at the end of the file libyaml points past it
            context = getattr(error, "context_mark", None)
            line = context.line + 1 if context is not None and context.line < last else last
        reason = getattr(error, "problem", None) or str(error)
        raise ConfigError([Problem(file, line, "", f"invalid YAML: {reason}")]) from None
    if node is None:
        return Document(file, {}, {(): 1})
    # _to_python records each key's line in the document's lines as it goes.
    doc = Document(file, None, {})
    loader = _Loader("")
    try:
        return doc._replace(data=_to_python(node, (), doc, loader, _Read()))
    finally:
        loader.dispose()


def _read_text(file: Path) -> str:
    """The file's text: a regular file of at most MAX_FILE_BYTES, in UTF-8."""
    try:
        info = file.stat()
    except FileNotFoundError:
        raise ConfigError([Problem(file, None, "", "file not found")]) from None
    except OSError as error:
        raise ConfigError([Problem(file, None, "", f"cannot read: {error.strerror}")]) from None
    if not stat.S_ISREG(info.st_mode):  # a FIFO or a device would block or never end
        raise ConfigError([Problem(file, None, "", "not a regular file")])
    if info.st_size > MAX_FILE_BYTES:
        message = f"{info.st_size:,} bytes; a configuration file may have {MAX_FILE_BYTES:,}"
        raise ConfigError([Problem(file, None, "", message)])
    try:
        with file.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise ConfigError([Problem(file, None, "", f"cannot read: {error.strerror}")]) from None
    if len(raw) > MAX_FILE_BYTES:  # it grew since stat
        raise ConfigError([Problem(file, None, "", f"over {MAX_FILE_BYTES:,} bytes")])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        message = f"not UTF-8: byte 0x{raw[error.start]:02x} at column {_column(raw, error.start)}"
        raise ConfigError([Problem(file, line, "", message)]) from None


def _column(raw: bytes, offset: int) -> int:
    return offset - (raw.rfind(b"\n", 0, offset) + 1) + 1


_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # what YAML counts as a new line


def _line_count(text: str) -> int:
    lines = _LINE_BREAK.split(text)
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    return len(lines)


def _to_python(
    node: yaml.Node,
    path: Path_,
    doc: Document,
    loader: Any,
    read: _Read,
    inside: frozenset[int] = frozenset(),
) -> Any:
    doc.lines.setdefault(path, node.start_mark.line + 1)
    if len(doc.lines) > MAX_VALUES:  # aliases of aliases can expand exponentially
        message = f"the file expands to over {MAX_VALUES:,} values (aliases of aliases?)"
        raise _problem(doc, node, path[:1], message)
    if len(path) > MAX_DEPTH:
        raise _problem(doc, node, path[:MAX_DEPTH], f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        if id(node) in inside:  # an alias to one of its own ancestors: `a: &x [*x]`
            raise _problem(doc, node, path, "a YAML alias cannot refer to itself")
        if node.tag not in _PLAIN_TAGS:  # a tag would be dropped: refuse it as on a value
            raise _problem(doc, node, path, f"YAML tags are not supported ({node.tag})")
        inside = inside | {id(node)}
    else:
        read.characters += len(node.value)
        if read.characters > MAX_EXPANDED_BYTES:  # a large string repeated by aliases
            message = f"the file expands to over {MAX_EXPANDED_BYTES:,} characters (aliases?)"
            raise _problem(doc, node, path[:1], message)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _problem(doc, key_node, path, "YAML merge keys (<<) are not supported")
            if not isinstance(key_node, yaml.ScalarNode):
                raise _problem(doc, key_node, path, "keys must be plain strings")
            key = key_node.value
            if key in result:
                raise _problem(doc, key_node, (*path, key), "duplicate key")
            doc.lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = _to_python(value_node, (*path, key), doc, loader, read, inside)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _to_python(item, (*path, i), doc, loader, read, inside)
            for i, item in enumerate(node.value)
        ]
    # Scalars go through PyYAML's own resolver so that 8080 is an int and "8080" a string.
    try:
        value = loader.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError) as error:
        raise _problem(doc, node, path, f"invalid value: {error}") from None
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise _problem(doc, node, path, "a whole number this large means nothing here")
    return value


_PLAIN_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


class _Read:
    """How much scalar text one document has expanded to so far."""

    characters = 0


def _problem(doc: Document, node: yaml.Node, path: Path_, message: str) -> ConfigError:
    key = ""  # written as the loader writes keys: services.web.command[0]
    for part in path:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else part)
    return ConfigError([Problem(doc.file, node.start_mark.line + 1, key, message)])
