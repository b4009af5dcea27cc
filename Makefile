# Two entry points: `make run` (the main example on the embedded in-memory backend)
# and `make test` (lint, format check, type check and the whole test suite).
# Both bootstrap .venv from pyproject.toml on first use, so a fresh clone needs only Python 3;
# `make test` also installs fauxqs (the second SQS/SNS test server) with the machine's npm.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
NODE_DIR := tests/support
NODE_STAMP := $(NODE_DIR)/node_modules/.installed-stamp

.PHONY: run test lint typecheck unit bench clean node-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=25.1"
	$(PY) -m pip install --quiet -e ".[examples,redis]" --group test --group lint
	touch $(STAMP)

# fauxqs as its lock file pins it. Without npm, or if the install fails, the fauxqs tests
# skip (and fail under CI=true) rather than the whole run stopping here.
$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	@if ! command -v npm >/dev/null 2>&1; then \
		echo "npm not found: the fauxqs tests will skip; install Node.js 20+ for them"; \
	elif npm ci --prefix $(NODE_DIR) --no-audit --no-fund --loglevel=error; then \
		touch $@; \
	else \
		rm -rf $(NODE_DIR)/node_modules; \
		echo "npm ci failed: the fauxqs tests will skip"; \
	fi

node-deps: $(NODE_STAMP)

run: $(STAMP)
	$(PY) -m examples.orders

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

test: lint typecheck node-deps
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) benchmarks/publish.py
	$(PY) benchmarks/consume.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis $(NODE_DIR)/node_modules
