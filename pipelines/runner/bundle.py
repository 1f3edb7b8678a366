"""The invoker Lambda's code package: the few modules it runs, and runners.json beside them.

The Lambda Python runtime has the standard library and boto3, nothing else, so the package
holds only modules that need nothing more. pipelines.config's own __init__ imports the YAML
loader and pydantic; the package replaces it with an empty one so that the allow-list can still
import the Fargate table from pipelines.config.aws_facts. Deterministic bytes (fixed order and
timestamps), like everything synth writes.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from pipelines.runner import names

HANDLER = "pipelines.runner.invoker.handler"
_ROOT = Path(__file__).resolve().parent.parent  # the pipelines package
MODULES = (
    "__init__.py",
    "naming.py",
    "patterns.py",
    "config/aws_facts.py",
    "runner/__init__.py",
    "runner/allowlist.py",
    "runner/document.py",
    "runner/invoker.py",
    "runner/logs.py",
    "runner/names.py",
    "runner/tasks.py",
)
_CONFIG_STUB = b'"""Only aws_facts, for the runner invoker Lambda (see runner/bundle.py)."""\n'


def invoker_files(runners_json: str | None = None) -> dict[str, bytes]:
    """Archive path -> bytes for the Lambda package, with runners.json if given."""
    files = {f"pipelines/{m}": (_ROOT / m).read_bytes() for m in MODULES}
    files["pipelines/config/__init__.py"] = _CONFIG_STUB
    if runners_json is not None:
        files[f"pipelines/runner/{names.RUNNERS_FILE}"] = runners_json.encode()
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
