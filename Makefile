# The two commands of a fresh machine: `make quickstart` and `make test` (see README.md).
PYTHON ?= python3

.PHONY: install quickstart test lint unit

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
