"""The package installs as itself: its distribution name, one version, its install hints, and
(slow) a wheel built from the repository installed in a fresh virtual environment."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

import pipelines
from pipelines.cli import main
from tests.support import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
DISTRIBUTION = PYPROJECT["project"]["name"]
# What the tests read besides the package: the sdist must carry all of it (MANIFEST.in).
TEST_INPUTS = ("tests", "environments", "templates", "docs")
TOP_LEVEL_FILES = ("README.md", "CHANGELOG.md", "CONTRIBUTING.md", "LICENSE", "pyproject.toml")
NOT_COPIED = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".cache",
    "node_modules",
    "__pycache__",
    "*.egg-info",
    "build",
    "dist",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
    ".hypothesis",
)


def test_the_distribution_is_not_named_like_the_unrelated_pipelines_on_pypi() -> None:
    assert DISTRIBUTION == "ecs-release-pipelines"
    assert PYPROJECT["project"]["scripts"] == {"pipelines": "pipelines.__main__:entry"}


def test_the_version_has_one_source_which_pipelines_version_prints() -> None:
    assert "version" not in PYPROJECT["project"]
    assert PYPROJECT["project"]["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "pipelines.__version__"
    }
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"pipelines, version {pipelines.__version__}\n"


def _install_hints() -> list[tuple[Path, str]]:
    """Every string constant in the package that tells the user to pip install something."""
    hints = []
    for source in sorted((ROOT / "pipelines").rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and "pip install" in str(node.value):
                hints.append((source.relative_to(ROOT), str(node.value)))
    return hints


def test_every_install_hint_the_tool_prints_names_this_distribution() -> None:
    hints = _install_hints()
    assert hints, "no install hint found: the search is broken"
    named = []
    for source, hint in hints:
        # `pip install -e '.[extra]'` (a checkout) names no distribution; every other hint does,
        # and it must be this one, never `pipelines`, which is someone else's on PyPI.
        for name in re.findall(r"pip install '([A-Za-z0-9._-]+)", hint):
            assert name == DISTRIBUTION, (source, hint)
            named.append(name)
    assert named


def test_no_page_tells_users_to_install_the_unrelated_pipelines() -> None:
    pages = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "install 'pipelines[" not in text, page.name


def test_the_package_is_marked_as_typed() -> None:
    assert (ROOT / "pipelines" / "py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["pipelines"]


def _files_under(root: Path, names: tuple[str, ...]) -> set[str]:
    found = set()
    for name in names:
        for path in (root / name).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                found.add(path.relative_to(root).as_posix())
    return found


@pytest.mark.slow  # builds an sdist and a wheel, and installs the wheel with its dependencies
def test_a_wheel_built_from_the_repository_installs_as_itself(tmp_path: Path) -> None:
    source = tmp_path / "source"
    # A copy, so that building writes no egg-info or build/ into the working tree.
    shutil.copytree(ROOT, source, ignore=NOT_COPIED)
    dist = tmp_path / "dist"
    # python -m build makes the sdist, then the wheel from the unpacked sdist, so the wheel also
    # shows that the sdist holds what a build needs.
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(source)],
        check=True,
        capture_output=True,
    )
    version = pipelines.__version__
    stem = f"{DISTRIBUTION.replace('-', '_')}-{version}"
    sdist, wheel = dist / f"{stem}.tar.gz", dist / f"{stem}-py3-none-any.whl"

    with tarfile.open(sdist) as archive:
        in_sdist = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    expected = _files_under(source, TEST_INPUTS) | set(TOP_LEVEL_FILES)
    assert not expected - in_sdist, sorted(expected - in_sdist)

    with zipfile.ZipFile(wheel) as archive:
        in_wheel = set(archive.namelist())
    assert "pipelines/py.typed" in in_wheel
    assert f"{stem}.dist-info/licenses/LICENSE" in in_wheel

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [venv / "bin" / "pip", "install", "-q", "--disable-pip-version-check", wheel],
        check=True,
        capture_output=True,
    )
    # Run away from the checkout: `python -c` puts its working directory on sys.path, where the
    # package and an editable install's metadata would be found instead of the wheel's.
    printed = subprocess.run(
        [venv / "bin" / "pipelines", "--version"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    ).stdout
    assert printed == f"pipelines, version {version}\n"
    metadata = subprocess.run(
        [
            venv / "bin" / "python",
            "-c",
            "import importlib.metadata as m, sys\n"
            "print(m.version(sys.argv[1]))\n"
            "try:\n    m.version('pipelines')\nexcept m.PackageNotFoundError:\n"
            "    print('no distribution named pipelines')\n",
            DISTRIBUTION,
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    ).stdout
    assert metadata == f"{version}\nno distribution named pipelines\n"
