# The two commands of a fresh machine: `make quickstart` and `make test` (see README.md).
# Run them inside a virtual environment (python3 -m venv .venv && . .venv/bin/activate).
PYTHON ?= python3
PYTEST = $(PYTHON) -m pytest -p no:cacheprovider

.PHONY: install quickstart lint audit test fast slow unit docs site

# Installed once per environment: the stamp lives in the environment and is remade only when
# pyproject.toml changes, so a fresh venv always gets a full install.
STAMP := $(shell $(PYTHON) -c "import sys; print(sys.prefix)")/.filerelay-dev-installed

$(STAMP): pyproject.toml
	$(PYTHON) -m pip install -q -e '.[dev]'
	@touch $@

install: $(STAMP)

quickstart:
	@$(PYTHON) -c "import filerelay" 2>/dev/null || $(PYTHON) -m pip install -q -e .
	$(PYTHON) -m filerelay run --config examples/quickstart.yaml

lint: install
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m mypy

# Known vulnerabilities of the installed packages (pip-audit --local); accepted ones are listed
# in .ci/pip-audit-ignore.txt. Only warns when the vulnerability database cannot be reached.
audit: install
	$(PYTHON) .ci/audit.py

# Everything: lint, the dependency audit, the docs site, every test tier (slow and chaos included).
test: lint audit site
	$(PYTEST)

# The quick tier: everything but the slow end-to-end and chaos tests, on up to 4 pytest-xdist
# workers (one per core; each has its own Redis databases, temp dirs, buckets and stores).
# FAST_WORKERS=0 runs it in one process.
FAST_WORKERS ?= auto
fast: install
	$(PYTEST) -q -m "not slow" -n $(FAST_WORKERS) --maxprocesses 4

slow: install
	$(PYTEST) -m slow

unit: install
	$(PYTEST) -q tests/core tests/config tests/routing

# Regenerate the generated sections of the docs (config reference, settings) from the models.
GENERATED_PAGES = docs/configuration.md docs/operations.md

docs:
	$(PYTHON) -c "import sys; from pathlib import Path; from filerelay.config.reference import render_generated; from filerelay.config import ActionCatalog; from filerelay.actions.registry import default_registry; c = ActionCatalog.from_registry(default_registry()); [p.write_text(render_generated(p.read_text(), c)) for p in map(Path, sys.argv[1:])]" $(GENERATED_PAGES)

# The documentation site (docs/, mkdocs.yml), built offline into site/ (not committed).
site: install
	$(PYTHON) -m mkdocs build --strict --quiet
