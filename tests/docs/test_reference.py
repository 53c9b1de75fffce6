"""The docs' generated sections match the models (run `make docs` to refresh them)."""

from pathlib import Path

import pytest

from filerelay.actions.registry import default_registry
from filerelay.config import ActionCatalog
from filerelay.config.reference import render_generated

ROOT = Path(__file__).resolve().parents[2]

# page -> the generated sections it must hold (the Makefile's GENERATED_PAGES)
PAGES = {
    "docs/configuration.md": ("reference",),
    "docs/operations.md": ("settings",),
}


@pytest.mark.parametrize("page", sorted(PAGES))
def test_generated_sections_are_fresh(page: str) -> None:
    # given the page as committed
    text = (ROOT / page).read_text(encoding="utf-8")
    for name in PAGES[page]:
        assert f"<!-- {name}:start -->" in text, f"{page} lost its {name} section"
    # when its generated sections are rendered from the models, then nothing changes
    catalog = ActionCatalog.from_registry(default_registry())
    assert render_generated(text, catalog) == text, f"{page} is stale: run `make docs`"


def test_makefile_regenerates_every_generated_page() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    line = next(ln for ln in makefile.splitlines() if ln.startswith("GENERATED_PAGES"))
    assert sorted(line.split("=", 1)[1].split()) == sorted(PAGES)


def test_a_page_without_a_generated_section_is_refused() -> None:
    with pytest.raises(ValueError, match="no generated section"):
        render_generated("# nothing here\n", ActionCatalog.from_registry(default_registry()))
