"""The README stays short, and its test command is the one CI runs."""

from __future__ import annotations

from tests.support import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_is_at_most_15_kb() -> None:
    assert len(README.encode("utf-8")) <= 15_000


def test_the_quick_start_test_command_is_the_one_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = next(line for line in ci.splitlines() if line.startswith("python3 -m venv .venv"))
    assert command in README.splitlines()


def test_the_readme_has_one_mermaid_diagram_and_links_every_page_of_docs() -> None:
    assert README.count("```mermaid") == 1
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"(docs/{page.name})" in README, f"docs/{page.name} is not in the README's map"
