"""Every command output the docs quote is what the command prints now (tests/doc_outputs.py)."""

from __future__ import annotations

import pytest

from tests import doc_outputs

QUOTED = sorted({(block.name, block.page.name) for block in doc_outputs.blocks()})


def test_every_quoted_output_has_a_producer() -> None:
    assert QUOTED, "no quoted output found: the marker search is broken"
    unknown = sorted({name for name, _ in QUOTED} - doc_outputs.OUTPUTS.keys())
    assert not unknown, f"no producer in tests/doc_outputs.py for {unknown}"


def _params() -> list[object]:
    names = sorted({name for name, _ in QUOTED} & doc_outputs.OUTPUTS.keys())
    return [
        pytest.param(name, marks=[pytest.mark.slow] if doc_outputs.OUTPUTS[name].slow else [])
        for name in names
    ]


@pytest.mark.parametrize("name", _params())
def test_a_quoted_output_matches_a_fresh_run(name: str) -> None:
    fresh = doc_outputs.produce(name)
    for block in doc_outputs.blocks():
        if block.name == name:
            assert block.text == fresh, (
                f"{block.page.name} quotes a stale `{name}`: run `python -m tests.regenerate`"
            )


def test_normalising_hides_what_varies_and_keeps_the_rest() -> None:
    digest = "ab" * 32
    text = (
        f"[  13.5s] #1 sha256:{digest[:12]}  Approve: approved (0.3s)\n"
        f"new digest sha256:{digest} in 0.97 s, execution 5f7686cc-cfe7-416d-b05b-1594964e562f\n"
    )
    assert doc_outputs.normalise(text) == (
        "[  N.Ns] #1 sha256:000000000000  Approve: approved (N.Ns)\n"
        f"new digest sha256:{'0' * 64} in N s, execution 00000000-0000-4000-8000-000000000000\n"
    )
