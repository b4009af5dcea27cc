# Two entry points: `make run` (the main example on the embedded in-memory backend)
# and `make test` (lint, format check, type check and the whole test suite).
# Both bootstrap .venv from pyproject.toml on first use, so a fresh clone needs only Python 3.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=25.1"
	$(PY) -m pip install --quiet -e ".[examples,redis]" --group test --group lint
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m examples.orders

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

test: lint typecheck
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) benchmarks/publish.py
	$(PY) benchmarks/consume.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
