import os
import subprocess
import sys

IMPORT_MODELS = (
    "import sys\n"
    "import pipelines.config.models\n"
    "from pipelines.config.models import Toolchain\n"
    "Toolchain(account='111111111111', region='eu-west-1')\n"
    "print('importlib.metadata' in sys.modules)\n"
)


def _run(code: str, **env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**environment, **env},
    )
    return result.stdout.strip()


def test_with_plugins_off_importlib_metadata_is_never_imported() -> None:
    assert _run(IMPORT_MODELS, PYDANTIC_DISABLE_PLUGINS="__all__") == "False"


def test_with_plugins_on_pydantic_still_looks_them_up() -> None:
    assert _run(IMPORT_MODELS) == "True"


def test_the_stand_in_returns_what_importlib_metadata_returns() -> None:
    code = (
        "from importlib.metadata import entry_points as real\n"
        "from pipelines.config.plugins import entry_points\n"
        "print(entry_points(group='console_scripts') == real(group='console_scripts'))\n"
    )
    assert _run(code) == "True"
