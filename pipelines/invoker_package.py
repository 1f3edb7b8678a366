"""The invoker Lambda's code package: pipelines/invoker/, the leaf modules it imports, and
runners.json beside them.

The file list is not kept by hand: it is every module of pipelines/invoker/ and whatever
modules of `pipelines` they import, found by reading their imports. A test checks that those
are leaf modules (standard library only), which is what the Lambda runtime can run.
Deterministic bytes (fixed order and timestamps), like everything synth writes.
"""

from __future__ import annotations

import ast
import io
import zipfile
from functools import cache
from pathlib import Path

from pipelines.invoker import names

HANDLER = "pipelines.invoker.handler.handler"
_ROOT = Path(__file__).resolve().parent  # the pipelines package
_PACKAGE = "invoker"


def _module_path(dotted: str) -> str | None:
    """`pipelines.x.y` -> `x/y.py` (or `x/y/__init__.py`), relative to the pipelines package."""
    parts = dotted.split(".")
    if parts[0] != "pipelines":
        return None
    relative = "/".join(parts[1:])
    if (_ROOT / f"{relative}.py").is_file():
        return f"{relative}.py"
    if relative and (_ROOT / relative / "__init__.py").is_file():
        return f"{relative}/__init__.py"
    return None


def _type_checking(test: ast.expr) -> bool:
    """`TYPE_CHECKING` or `typing.TYPE_CHECKING`."""
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return (
        isinstance(test, ast.Attribute)
        and test.attr == "TYPE_CHECKING"
        and isinstance(test.value, ast.Name)
        and test.value.id == "typing"
    )


# The fields of a statement, an `except` clause or a `case` that hold statements.
_STATEMENT_LISTS = ("body", "orelse", "finalbody", "handlers", "cases")


def imported_modules(path: str) -> set[str]:
    """Modules of `pipelines` that the module at `path` imports when it runs.

    Imports under `if TYPE_CHECKING:` are left out: they never run. Only statements are
    visited (an import is one): walking every expression node too was an eighth of synth of
    an app with runner steps.
    """
    tree = ast.parse((_ROOT / path).read_bytes(), filename=path)
    found: set[str] = set()
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if not node.module or node.level != 0:
                continue
            candidates = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            if isinstance(node, ast.If) and _type_checking(node.test):
                pending.extend(node.orelse)
            else:
                for field in _STATEMENT_LISTS:
                    pending.extend(getattr(node, field, ()))
            continue
        found.update(p for c in candidates if (p := _module_path(c)) is not None)
    return found


@cache
def package_modules() -> tuple[str, ...]:
    """Every module the Lambda package carries, as paths under the pipelines package."""
    own = sorted(f"{_PACKAGE}/{p.name}" for p in (_ROOT / _PACKAGE).glob("*.py"))
    pending = ["__init__.py", *own]
    seen: set[str] = set()
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        parent = Path(path).parent
        while str(parent) != ".":
            pending.append(f"{parent}/__init__.py")
            parent = parent.parent
        pending.extend(imported_modules(path) - seen)
    return tuple(sorted(seen))


def invoker_files(runners_json: str | None = None) -> dict[str, bytes]:
    """Archive path -> bytes for the Lambda package, with runners.json if given."""
    files = {f"pipelines/{m}": (_ROOT / m).read_bytes() for m in package_modules()}
    if runners_json is not None:
        files[f"pipelines/{_PACKAGE}/{names.RUNNERS_FILE}"] = runners_json.encode()
    return files


def invoker_zip(runners_json: str | None = None) -> bytes:
    buffer = io.BytesIO()
    # Stored, not deflated: synth's output must be the same bytes on every machine, and deflate's
    # output depends on the zlib build (zlib-ng, for one, compresses differently).
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for path, data in sorted(invoker_files(runners_json).items()):
            info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, data)
    return buffer.getvalue()
