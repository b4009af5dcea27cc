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

.PHONY: run test lint typecheck unit unasync docs serve-docs bench clean node-deps test-localstack

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=25.1"
	$(PY) -m pip install --quiet -e ".[examples,redis]" --group test --group lint --group docs
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

# LocalStack, an optional third SQS/SNS server, in a venv of its own: localstack-core 2026.3.0
# needs Python 3.13+ (it imports warnings.deprecated) whatever its metadata says. Not part of
# `make test` nor of CI. LOCALSTACK_PYTHON defaults to the first Python 3.13+ found.
LOCALSTACK_VENV := .venv-localstack
LOCALSTACK_VERSION := 2026.3.0
LOCALSTACK_STAMP := $(LOCALSTACK_VENV)/.installed-$(LOCALSTACK_VERSION)
LOCALSTACK_PINS := "localstack-core[base-runtime]==$(LOCALSTACK_VERSION)" "moto-ext==5.1.54" \
	"cbor2<6" "pyopenssl<25" "cryptography<45" service_identity
LOCALSTACK_PYTHON ?= $(firstword $(foreach py,python3.14 python3.13 \
	$(wildcard $(HOME)/.pyenv/versions/3.1[3-9]*/bin/python3), \
	$(shell $(py) -c 'import sys; sys.exit(sys.version_info < (3, 13))' >/dev/null 2>&1 && echo $(py))))

$(LOCALSTACK_STAMP):
	@test -n "$(LOCALSTACK_PYTHON)" || { echo "LocalStack needs Python 3.13+:" \
		"install it, or name it with LOCALSTACK_PYTHON=/path/to/python3.13"; exit 1; }
	$(LOCALSTACK_PYTHON) -m venv $(LOCALSTACK_VENV)
	$(LOCALSTACK_VENV)/bin/python -m pip install --quiet --upgrade "pip>=25.1"
	$(LOCALSTACK_VENV)/bin/python -m pip install --quiet $(LOCALSTACK_PINS)
	touch $@

test-localstack: $(STAMP) $(LOCALSTACK_STAMP)
	LOCALSTACK_TESTS=1 LOCALSTACK_TESTS_PYTHON=$(LOCALSTACK_VENV)/bin/python \
		$(PY) -m pytest -m localstack tests/contract/test_localstack_backend.py \
		tests/integration/test_ops_cli.py

run: $(STAMP)
	$(PY) -m examples.orders

# The threaded consume core is generated from the asyncio one (scripts/unasync.py);
# lint fails when the generated twin is not what the script writes.
unasync: $(STAMP)
	$(PY) scripts/unasync.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) scripts/unasync.py --check

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# The documentation site, built strictly (any warning fails): into site/, or served with
# live reload on http://127.0.0.1:8000. Not --quiet: mkdocs 1.6 then drops the warnings
# before --strict counts them, and a broken link builds.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict -d site

serve-docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve --strict

# Four test processes on two cores: most tests wait on a server, a poll or a timeout, so
# they overlap (10.6 min serial, about 3.5 min so). Each process starts its own servers.
TEST_PROCESSES ?= 4

test: lint typecheck docs node-deps
	$(PY) -m pytest -n $(TEST_PROCESSES)

# The benchmarks run on fauxqs (node-deps), draw a plot with matplotlib and start Dramatiq's
# worker and AWS Lambda Powertools for comparison (all from the bench group). Every script
# runs all its parts.
BENCH_STAMP := $(VENV)/.bench-stamp

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet --group bench
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP) node-deps
	$(PY) benchmarks/publish.py
	$(PY) benchmarks/consume.py
	$(PY) benchmarks/aio.py
	$(PY) benchmarks/tracing.py
	$(PY) benchmarks/startup.py
	$(PY) benchmarks/worker_start.py
	$(PY) benchmarks/health.py
	$(PY) benchmarks/lambda.py
	$(PY) benchmarks/large_messages.py

clean:
	rm -rf $(VENV) $(LOCALSTACK_VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis $(NODE_DIR)/node_modules
