"""Regenerate every golden file of the project: `.venv/bin/python -m tests.regenerate`.

Golden files are committed output the tests compare with a fresh run. They are never edited by
hand: change the code or the input, run this command, review the diff, commit it with the change.
It writes, through the project's own commands (so the bytes are exactly what users get):

- templates/: `pipelines synth` of the example, environments/;
- tests/golden/<name>/: `pipelines synth` of each tests/fixtures/valid/<name>/; a golden
  directory whose fixture no longer exists is removed;
- environments/.schema/pipeline.json and environment.json: `pipelines schema`;
- tests/fixtures/runner/runners.json: `python -m tests.<package>.fixture_runners`, the one
  tests/*/fixture_runners.py;
- docs/configuration.md: the configuration reference, from the same models as the schema
  (pipelines/config/reference.py);
- every command output the docs quote after an `<!-- output: NAME -->` line, run afresh from
  the example (tests/doc_outputs.py; the rehearsal and `pipelines check` among them, so this
  takes a minute or two).

One line is printed per thing regenerated.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "environments"
VALID = ROOT / "tests" / "fixtures" / "valid"
GOLDEN = ROOT / "tests" / "golden"
SCHEMAS = EXAMPLE / ".schema"
RUNNER_FIXTURE = ROOT / "tests" / "fixtures" / "runner" / "runners.json"


def _runner_fixture_module() -> str:
    """The module that writes RUNNER_FIXTURE, found by its file name wherever it lives."""
    found = sorted(ROOT.glob("tests/*/fixture_runners.py"))
    if len(found) != 1:
        sys.exit(f"expected one tests/*/fixture_runners.py, found {len(found)}")
    return ".".join(found[0].relative_to(ROOT).with_suffix("").parts)


def _run(*args: str) -> str:
    """Run `python <args>` in the project's root; its stdout, or exit with its error."""
    result = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        sys.exit(f"failed: python {' '.join(args)} (exit status {result.returncode})")
    return result.stdout


def _synth(environments: Path, out: Path) -> None:
    _run("-m", "pipelines", "synth", "-q", "--environments", str(environments), "--out", str(out))
    print(f"{_rel(out)}/  <- pipelines synth --environments {_rel(environments)}")


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def fixtures() -> list[Path]:
    """The valid configuration fixtures, each an environments directory."""
    return sorted(p for p in VALID.iterdir() if p.is_dir())


def main() -> None:
    _synth(EXAMPLE, ROOT / "templates")
    valid = fixtures()
    names = {fixture.name for fixture in valid}
    for fixture in valid:
        # Wholly generated: removed first, so not even a damaged manifest.json (a merge
        # conflict) makes synth refuse to replace it.
        shutil.rmtree(GOLDEN / fixture.name, ignore_errors=True)
        _synth(fixture, GOLDEN / fixture.name)
    if GOLDEN.is_dir():
        for stale in sorted(GOLDEN.iterdir()):
            if stale.is_dir() and stale.name not in names and not stale.name.startswith("."):
                shutil.rmtree(stale)
                print(f"{_rel(stale)}/  removed: tests/fixtures/valid/{stale.name} is gone")
    for kind in ("pipeline", "environment"):
        target = SCHEMAS / f"{kind}.json"
        target.write_text(_run("-m", "pipelines", "schema", kind), encoding="utf-8")
        print(f"{_rel(target)}  <- pipelines schema {kind}")
    module = _runner_fixture_module()
    _run("-m", module)
    print(f"{_rel(RUNNER_FIXTURE)}  <- python -m {module}")
    # In-process: the page is rendered from the models that this interpreter imports.
    from pipelines.config.reference import page

    (ROOT / "docs" / "configuration.md").write_text(page(ROOT), encoding="utf-8")
    print("docs/configuration.md  <- pipelines/config/reference.py")
    from tests.doc_outputs import write_all

    for written in write_all(ROOT):
        print(f"{written}  <- tests/doc_outputs.py")


if __name__ == "__main__":
    main()
