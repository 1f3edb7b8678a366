"""Every valid fixture's synth equals its committed golden output, tests/golden/<name>/.

Golden files are never edited by hand: `python -m tests.regenerate` rewrites all of them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.render import Synthesis, write_atomically
from tests.support import FIXTURES, VALID_FIXTURES

GOLDEN = Path(__file__).resolve().parent / "golden"
REGENERATE = "run `.venv/bin/python -m tests.regenerate`, review the diff and commit it"


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.mark.parametrize("fixture", VALID_FIXTURES, ids=lambda p: p.name)
def test_synth_of_each_valid_fixture_equals_its_golden_output(
    fixture: Path, syntheses: dict[str, Synthesis], tmp_path: Path
) -> None:
    golden = GOLDEN / fixture.name
    assert golden.is_dir(), f"tests/golden/{fixture.name}/ is missing: {REGENERATE}"
    out = tmp_path / "out"
    write_atomically(out, syntheses[fixture.name].files)  # as `pipelines synth` writes it
    fresh, committed = _files(out), _files(golden)
    missing, extra = sorted(fresh.keys() - committed), sorted(committed.keys() - fresh)
    assert not missing and not extra, (
        f"tests/golden/{fixture.name}/ lacks {missing} and has {extra} a fresh synth does not "
        f"write: {REGENERATE}"
    )
    for name, data in fresh.items():
        assert committed[name] == data, f"tests/golden/{fixture.name}/{name} is stale: {REGENERATE}"


def test_every_golden_directory_has_its_fixture() -> None:
    fixtures = {p.name for p in VALID_FIXTURES}
    golden = [p for p in GOLDEN.iterdir() if p.is_dir() and not p.name.startswith(".")]
    orphans = sorted(p.name for p in golden if p.name not in fixtures)
    assert not orphans, (
        f"tests/golden/ holds {orphans}, whose fixtures are gone from {FIXTURES / 'valid'}: "
        f"{REGENERATE}"
    )
