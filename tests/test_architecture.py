"""The package layers of docs/architecture.md, checked on every import the code holds.

Every import counts: at the top of a module, inside a function (lazy) and under TYPE_CHECKING,
since each of them ties one package to another. A module may import its own package, the
other packages of its layer and the layers below, never a layer above; and no two packages
import each other, directly or round a longer cycle.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pipelines"

# Lowest first. A name is a top-level module or package of `pipelines`.
LAYERS: tuple[tuple[str, ...], ...] = (
    # leaf modules: the standard library only, and each other
    (
        "__init__",
        "aws_facts",
        "durations",
        "errors",
        "image_naming",
        "json_text",
        "naming",
        "patterns",
    ),
    ("process",),  # the process's garbage-collector settings
    # the Lambda: the standard library, boto3, the leaf modules; and synth's packaging of it
    ("invoker", "invoker_package"),
    ("config", "limits"),  # the YAML contract
    ("release",),  # the release plan
    ("builders", "template_data", "release_marker", "stacks"),  # troposphere
    ("conformance",),  # AWS's rules, read from the templates
    ("render", "synth", "summary", "check", "cost"),  # bytes and reports
    ("aws",),  # the verbs: boto3, no printing
    ("jobs",),  # the runner containers' entrypoints
    ("local",),  # the embedded AWS: rehearsal
    ("init",),  # `pipelines init` writes a starter environments/
    ("cli", "__main__", "console"),  # every flag, prompt and line printed
)
LAYER_OF = {name: level for level, names in enumerate(LAYERS) for name in names}
SYNTH_PATH = ("config", "release", "builders", "conformance", "render", "synth", "stacks")
NEVER_ON_SYNTH_PATH = {"aws", "jobs", "local", "boto3", "botocore", "moto"}


def _top(module: str) -> str:
    """`pipelines.config.models` -> `config`; `pipelines` -> `__init__`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in the file, lazy and TYPE_CHECKING ones included."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            if node.module == "pipelines":  # `from pipelines import naming` names a module
                found.extend(
                    (node.lineno, f"pipelines.{a.name}")
                    for a in node.names
                    if (PACKAGE / f"{a.name}.py").exists() or (PACKAGE / a.name).is_dir()
                )
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def _owner(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


def test_every_module_belongs_to_a_layer() -> None:
    unplaced = sorted({_owner(p) for p in MODULES} - LAYER_OF.keys())
    assert not unplaced, f"place these in a layer of tests/test_architecture.py: {unplaced}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_module_imports_only_its_own_package_and_layers_below(path: Path) -> None:
    owner = _owner(path)
    wrong = [
        f"line {line}: {module}"
        for line, module in _imports(path)
        if module.split(".")[0] == "pipelines"
        and _top(module) != owner
        and LAYER_OF.get(_top(module), len(LAYERS)) > LAYER_OF[owner]
    ]
    assert not wrong, f"{owner} imports a layer above its own: {wrong}"


def _package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in MODULES:
        owner = _owner(path)
        graph.setdefault(owner, set()).update(
            _top(module)
            for _, module in _imports(path)
            if module.split(".")[0] == "pipelines" and _top(module) != owner
        )
    return graph


def test_no_two_packages_import_each_other() -> None:
    graph = _package_graph()
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        for target in sorted(graph.get(node, ())):
            if target in path:
                cycles.append([*path[path.index(target) :], target])
            elif len(path) < len(graph):
                visit(target, [*path, target])

    for start in sorted(graph):
        visit(start, [start])
    assert not cycles, f"import cycles between packages: {cycles[:5]}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_synth_path_never_imports_boto3_moto_or_the_verbs(path: Path) -> None:
    if _owner(path) not in SYNTH_PATH:
        return
    wrong = [
        f"line {line}: {module}"
        for line, module in _imports(path)
        if module.split(".")[0] in NEVER_ON_SYNTH_PATH or _top(module) in NEVER_ON_SYNTH_PATH
        if module.split(".")[0] in ("pipelines", "boto3", "botocore", "moto")
    ]
    assert not wrong, wrong


@pytest.mark.parametrize("path", sorted((PACKAGE / "invoker").glob("*.py")), ids=lambda p: p.name)
def test_the_invoker_imports_only_the_standard_library_boto3_and_leaf_modules(path: Path) -> None:
    leaf = set(LAYERS[0])
    wrong = [
        f"line {line}: {module}"
        for line, module in _imports(path)
        if not (
            module.split(".")[0] in sys.stdlib_module_names
            or module.split(".")[0] in ("boto3", "botocore")
            or (module.split(".")[0] == "pipelines" and _top(module) in leaf | {"invoker"})
        )
    ]
    assert not wrong, wrong


# Where a module may print, prompt or use click: the front end; the container jobs and the
# Lambda, whose output is their interface (the job's log, the function's CloudWatch log).
MAY_PRINT = {"cli", "__main__", "console", "jobs", "invoker"}


def _prints_or_prompts(path: Path) -> list[str]:
    """click imported (lazily or for typing too), or print() or input() called."""
    found = []
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: import {a.name}"
                for a in node.names
                if a.name.split(".")[0] == "click"
            ]
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.split(".")[0] == "click"
        ):
            found.append(f"line {node.lineno}: from {node.module} import")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("print", "input")
        ):
            found.append(f"line {node.lineno}: {node.func.id}()")
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_front_end_prints_or_prompts(path: Path) -> None:
    """The verbs report to a Reporter and return results; the command line shows them."""
    if _owner(path) in MAY_PRINT:
        return
    wrong = _prints_or_prompts(path)
    assert not wrong, f"{path.relative_to(PACKAGE)} prints or prompts: {wrong}"
