# The two commands of a fresh machine: `make quickstart` and `make test` (see README.md).
PYTHON ?= python3

.PHONY: install quickstart test lint unit docs site

install:
	$(PYTHON) -m pip install -q -e '.[dev]'

quickstart:
	$(PYTHON) -m pip install -q -e .
	filerelay run --config examples/quickstart.yaml

lint:
	ruff check .
	ruff format --check .
	mypy

test: install lint
	$(PYTHON) -m pytest -p no:cacheprovider

unit:
	$(PYTHON) -m pytest -q tests/unit

# Regenerate the generated sections of the docs (config reference, settings) from the models.
GENERATED_PAGES = docs/configuration.md docs/operations.md

docs:
	$(PYTHON) -c "import sys; from pathlib import Path; from filerelay.config.reference import render_generated; from filerelay.config import ActionCatalog; from filerelay.actions.registry import default_registry; c = ActionCatalog.from_registry(default_registry()); [p.write_text(render_generated(p.read_text(), c)) for p in map(Path, sys.argv[1:])]" $(GENERATED_PAGES)

# The documentation site (docs/, mkdocs.yml), built offline into site/ (not committed).
site:
	$(PYTHON) -m mkdocs build --strict
