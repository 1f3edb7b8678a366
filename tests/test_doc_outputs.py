"""Every command output the docs quote is what the command prints now (tests/doc_outputs.py)."""

from __future__ import annotations

import pytest

from tests import doc_outputs, doc_sessions

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
        if not doc_outputs.OUTPUTS[name].session
    ]


@pytest.mark.parametrize("name", _params())
def test_a_quoted_output_matches_a_fresh_run(name: str) -> None:
    fresh = doc_outputs.produce(name)
    for block in doc_outputs.blocks():
        if block.name == name:
            assert block.text == fresh, (
                f"{block.page.name} quotes a stale `{name}`: run `python -m tests.regenerate`"
            )


@pytest.mark.slow
def test_the_quoted_sandbox_session_matches_a_fresh_session() -> None:
    # One session for every block of it: each command acts on what the earlier ones left.
    fresh = doc_sessions.transcript()
    quoted = [block for block in doc_outputs.blocks() if block.name in fresh]
    assert {block.name for block in quoted} == set(doc_outputs.SESSION_BLOCKS)
    for block in quoted:
        assert block.text == fresh[block.name], (
            f"{block.page.name} quotes a stale `{block.name}`: run `python -m tests.regenerate`"
        )


def test_an_execution_shown_by_its_first_digits_keeps_its_stand_in() -> None:
    first, second = "5944d265-671b-4651-98bc-f0d2f6b06e7e", "dca12c8d-1ab7-4e43-84bb-d8881a853b36"
    text = f"execution {second}\nby dca12c8d, then 5944d265; not an id: 20261202\n"
    assert doc_outputs.normalise(text, ids=[first, second]) == (
        "execution 00000000-0000-4000-8000-000000000000\n"
        "by 00000000, then 00000001; not an id: 20261202\n"
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
