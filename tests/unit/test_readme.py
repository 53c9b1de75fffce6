"""The README's generated sections match the models (run `make docs` to refresh them)."""

from pathlib import Path

from filerelay.actions.registry import default_registry
from filerelay.config import ActionCatalog
from filerelay.config.reference import render_readme

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_reference_is_generated_from_the_models():
    text = README.read_text()
    assert render_readme(text, ActionCatalog.from_registry(default_registry())) == text, (
        "README.md config reference is stale: run `make docs`"
    )
