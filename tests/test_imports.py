"""Libraries imported without the parts synth never runs, and whole again when asked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _run(code: str, path: Path | None = None) -> None:
    prelude = "import sys\n" + (f"sys.path.insert(0, {str(path)!r})\n" if path else "")
    subprocess.run([sys.executable, "-c", prelude + code], check=True)


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """`pkg`, whose package body takes `marker` from its submodule `pkg.heavy`."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("from pkg.heavy import marker\n")
    (tmp_path / "pkg" / "heavy.py").write_text("marker = 'real'\nother = 'real too'\n")
    return tmp_path


def test_the_stand_in_answers_only_while_the_package_is_imported(package: Path) -> None:
    _run(
        "from pipelines.imports import import_with_stand_in\n"
        "import_with_stand_in('pkg', 'pkg.heavy', marker='stand-in')\n"
        "import pkg\n"
        "assert pkg.marker == 'stand-in' and 'pkg.heavy' not in sys.modules\n"
        "import pkg.heavy\n"
        "assert pkg.heavy.marker == 'real' and sys.modules['pkg.heavy'].other == 'real too'\n",
        package,
    )


def test_a_package_that_needs_more_than_the_stand_in_holds_is_imported_for_real(
    package: Path,
) -> None:
    (package / "pkg" / "__init__.py").write_text("from pkg.heavy import marker, other\n")
    _run(
        "from pipelines.imports import import_with_stand_in\n"
        "import_with_stand_in('pkg', 'pkg.heavy', marker='stand-in')\n"
        "import pkg\n"
        "assert (pkg.marker, pkg.other) == ('real', 'real too')\n"
        "assert sys.modules['pkg.heavy'].marker == 'real'\n",
        package,
    )


def test_troposphere_is_imported_without_sam_and_sam_still_works() -> None:
    _run(
        "import pipelines.builders\n"
        "from troposphere import Template\n"
        "assert 'troposphere.serverless' not in sys.modules\n"
        "assert 'troposphere.awslambda' not in sys.modules\n"
        "from troposphere.serverless import SERVERLESS_TRANSFORM, Function, Globals\n"
        "from troposphere.serverless import FunctionGlobals\n"
        "t = Template()\n"
        "t.set_transform(SERVERLESS_TRANSFORM)\n"
        "t.set_globals(Globals(Function=FunctionGlobals(Timeout=30)))\n"
        "t.add_resource(Function('F', Handler='h', Runtime='python3.12', CodeUri='s3://b/k'))\n"
        "d = t.to_dict()\n"
        "assert d['Globals'] == {'Function': {'Timeout': 30}}, d\n"
        "assert d['Resources']['F']['Type'] == 'AWS::Serverless::Function'\n"
    )


def test_pydantic_is_imported_without_importlib_metadata() -> None:
    _run(
        "import os; os.environ['PYDANTIC_DISABLE_PLUGINS'] = '__all__'\n"
        "import pipelines.config.models\n"
        "assert 'importlib.metadata' not in sys.modules\n"
    )
