"""docs/configuration.md is the reference rendered from the models, and says every key."""

from __future__ import annotations

import pytest

from pipelines.config import reference
from pipelines.config.schema import SCHEMAS
from tests.support import ROOT

PAGE = ROOT / "docs" / "configuration.md"


def test_the_committed_page_is_the_one_the_models_give() -> None:
    assert PAGE.read_text(encoding="utf-8") == reference.page(ROOT), (
        "docs/configuration.md differs from the models: run `python -m tests.regenerate`"
    )


@pytest.mark.parametrize("kind", sorted(SCHEMAS))
def test_every_top_level_key_of_the_models_has_a_row(kind: str) -> None:
    keys = {row.key for row in reference.rows(kind, set())}
    for name in SCHEMAS[kind].model_fields:
        assert f"`{name}`" in keys


def test_a_note_for_a_key_the_models_do_not_have_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(reference.NOTES, "pipeline:services.<service>.colour", "gone")
    with pytest.raises(reference.UnknownNote, match=r"services\.<service>\.colour"):
        reference.page(ROOT)
