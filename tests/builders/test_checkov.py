"""checkov reports no failed check on any generated template.

checkov pins old versions of boto3 and packaging, so it lives in its own virtual environment
under .cache/, made here on first use and reused afterwards.

Starting checkov costs about 5 s of imports, more than scanning a configuration's templates: one
checkov run scans every configuration and the harness's bare bucket, each in a directory of its
own, once per test session (the first xdist worker to need it runs it, the other reads its
report), and each test reads the checks of its own directory.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from pipelines.render import Synthesis, write_atomically
from tests.support import CONFIGURATIONS, ROOT, config_id

CHECKOV_VERSION = "3.3.30"
CHECKOV_VENV = ROOT / ".cache" / f"checkov-{CHECKOV_VERSION}"

# Every test that runs checkov is marked slow; the suppressions' test below reads the templates.


def _checkov_executable() -> Path:
    executable = CHECKOV_VENV / "bin" / "checkov"
    if not executable.exists():
        # Only one xdist worker builds the environment; the other waits on the lock file.
        CHECKOV_VENV.parent.mkdir(parents=True, exist_ok=True)
        lock = CHECKOV_VENV.parent / f"checkov-{CHECKOV_VERSION}.lock"
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


# The harness's own directory in the shared scan: a bucket with every protection left out.
BARE_BUCKET = "bare-bucket"
CHECKS = ("passed_checks", "failed_checks", "skipped_checks")


@pytest.fixture(scope="session")
def scan(
    syntheses: dict[str, Synthesis], checkov: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict]:
    """One checkov run over every configuration's templates and the bare bucket, each in its
    own directory: the scanned root and checkov's report."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # this session's, shared by its workers only
    root, saved = shared / "checkov-scan", shared / "checkov-scan.json"
    with open(shared / "checkov-scan.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not saved.exists():
            for name, synthesis in syntheses.items():
                write_atomically(root / name, synthesis.files)
            bucket = {"Resources": {"Open": {"Type": "AWS::S3::Bucket", "Properties": {}}}}
            (root / BARE_BUCKET).mkdir()
            (root / BARE_BUCKET / "t.json").write_text(json.dumps(bucket))
            saved.write_text(json.dumps(run_checkov(checkov, root)))
    return root, json.loads(saved.read_text())


def checks_in(scan: tuple[Path, dict], directory: str) -> dict[str, list[dict]]:
    """The report's passed, failed and skipped checks, and its parsing errors, of the files in
    one directory of the scan, in the report's shape."""
    root, report = scan

    def inside(path: str) -> bool:
        return Path(path).relative_to(root).parts[0] == directory

    results = report.get("results", {})
    found = {k: [c for c in results.get(k, []) if inside(c["file_abs_path"])] for k in CHECKS}
    found["parsing_errors"] = [p for p in results.get("parsing_errors", []) if inside(p)]
    return found


@pytest.mark.slow
def test_the_scan_checked_every_template_of_every_configuration(scan, syntheses) -> None:
    root, report = scan
    assert {p.name for p in root.iterdir()} == {*syntheses, BARE_BUCKET}
    templates = {str(root / BARE_BUCKET / "t.json")} | {
        str(root / name / stack["file"])
        for name, synthesis in syntheses.items()
        for stack in json.loads(synthesis.manifest)["stacks"]
    }
    scanned = {c["file_abs_path"] for k in CHECKS for c in report["results"].get(k, [])}
    assert scanned == templates
    assert report["summary"]["parsing_errors"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGURATIONS, ids=config_id)
def test_templates_pass_checkov(config, scan) -> None:
    report = checks_in(scan, config_id(config))
    assert len(report["passed_checks"]) > 50
    assert failed({"results": report}) == []
    assert report["parsing_errors"] == []
    # Every suppression carries a reason in the resource's own Metadata (every configuration
    # has some: the artifact bucket's access logging, for one).
    skipped = report["skipped_checks"]
    assert skipped
    for check in skipped:
        assert len(check["check_result"].get("suppress_comment") or "") > 20, check


@pytest.mark.slow
def test_checkov_harness_reports_failures(scan) -> None:
    report = checks_in(scan, BARE_BUCKET)
    assert failed({"results": report}), "checkov found nothing in a bare bucket"


@pytest.mark.parametrize("config", CONFIGURATIONS, ids=config_id)
def test_every_suppression_names_a_check_and_gives_its_reason(config, syntheses) -> None:
    """The suppressions checkov reads, read from the templates without checkov: each names one
    check and says why in its resource's own Metadata."""
    synthesis = syntheses[config_id(config)]
    skips = [
        (stack["file"], logical, skip)
        for stack in json.loads(synthesis.manifest)["stacks"]
        for logical, resource in json.loads(synthesis.files[stack["file"]])["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips  # every configuration has some: the artifact bucket's access logging, for one
    for file, logical, skip in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), (file, logical, skip)
        assert len(skip["comment"]) > 20, (file, logical, skip)


if __name__ == "__main__":  # pragma: no cover - lets a developer prebuild the environment
    print(_checkov_executable(), file=sys.stderr)
