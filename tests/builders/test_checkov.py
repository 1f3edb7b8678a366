"""checkov reports no failed check on any generated template.

checkov pins old versions of boto3 and packaging, so it lives in its own virtual environment
under .cache/, made here on first use and reused afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from pipelines.render import write_atomically
from tests.support import CONFIGURATIONS, ROOT, config_id

CHECKOV_VERSION = "3.3.30"
CHECKOV_VENV = ROOT / ".cache" / f"checkov-{CHECKOV_VERSION}"

pytestmark = pytest.mark.slow


def _checkov_executable() -> Path:
    executable = CHECKOV_VENV / "bin" / "checkov"
    if not executable.exists():
        # Only one xdist worker builds the environment; the other waits on the lock file.
        CHECKOV_VENV.parent.mkdir(parents=True, exist_ok=True)
        lock = CHECKOV_VENV.parent / f"checkov-{CHECKOV_VERSION}.lock"
        import fcntl

        with open(lock, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            if not executable.exists():
                venv.create(CHECKOV_VENV, with_pip=True, clear=True)
                subprocess.run(
                    [
                        str(CHECKOV_VENV / "bin" / "python"),
                        "-m",
                        "pip",
                        "install",
                        "--quiet",
                        f"checkov=={CHECKOV_VERSION}",
                    ],
                    check=True,
                )
    return executable


@pytest.fixture(scope="session")
def checkov() -> Path:
    return _checkov_executable()


def run_checkov(checkov: Path, directory: Path) -> dict:
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    result = subprocess.run(
        [
            str(checkov),
            "--directory",
            str(directory),
            "--framework",
            "cloudformation",
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    # checkov exits 1 when a check fails; anything else non-zero is a broken run.
    assert result.returncode in (0, 1), result.stderr[-2000:]
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


def failed(report: dict) -> list[str]:
    return [
        f"{c['check_id']} {c['resource']} in {c['file_path']}"
        for c in report.get("results", {}).get("failed_checks", [])
    ]


@pytest.mark.parametrize("config", CONFIGURATIONS, ids=config_id)
def test_templates_pass_checkov(config, syntheses, checkov, tmp_path) -> None:
    out = tmp_path / "templates"
    write_atomically(out, syntheses[config_id(config)].files)
    report = run_checkov(checkov, out)
    assert report["summary"]["passed"] > 50
    assert failed(report) == []
    # Every suppression carries a reason in the resource's own Metadata (every configuration
    # has some: the artifact bucket's access logging, for one).
    skipped = report["results"].get("skipped_checks", [])
    assert skipped
    for check in skipped:
        assert len(check["check_result"].get("suppress_comment") or "") > 20, check


def test_checkov_harness_reports_failures(checkov, tmp_path) -> None:
    bucket = {"Resources": {"Open": {"Type": "AWS::S3::Bucket", "Properties": {}}}}
    (tmp_path / "t.json").write_text(json.dumps(bucket))
    assert failed(run_checkov(checkov, tmp_path)), "checkov found nothing in a bare bucket"


if __name__ == "__main__":  # pragma: no cover - lets a developer prebuild the environment
    print(_checkov_executable(), file=sys.stderr)
