# The two commands of a fresh machine: `make quickstart` and `make test` (see README.md).
PYTHON ?= python3

.PHONY: install quickstart test lint unit docs

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

docs:
	$(PYTHON) -c "from pathlib import Path; from filerelay.config.reference import render_readme; from filerelay.config import ActionCatalog; from filerelay.actions.registry import default_registry; p = Path('README.md'); p.write_text(render_readme(p.read_text(), ActionCatalog.from_registry(default_registry())))"
