# Roster — developer commands. `make run` serves the API, `make test` runs every check.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed-dev
# The newest Python Roster supports: `make test` runs the SQLite suite on it too, when it is here.
# (pyenv's shim of a version that is installed but not selected fails: its own path then.)
NEWEST_PYTHON ?= $(shell python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null \
	|| ls $(HOME)/.pyenv/versions/3.13*/bin/python3.13 2>/dev/null | tail -1)
HOST ?= 127.0.0.1
PORT ?= 8000
PG_TEST_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test

.PHONY: install run test counts lint typecheck pytest pytest-sqlite pytest-newest pytest-postgres pytest-pgbouncer dist bench bench-compare bench-scale bench-audit bench-client bench-reset clean

install: $(STAMP)

# What serving needs, and nothing more (`make run`).
$(RUN_STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e .
	touch $(RUN_STAMP)

# And what testing needs (every other target).
$(STAMP): $(RUN_STAMP) client/pyproject.toml
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]" -e client
	touch $(STAMP)

run: $(RUN_STAMP)
	$(BIN)/roster serve --host $(HOST) --port $(PORT)

test: lint typecheck counts pytest pytest-newest

# Instructions per request on the hot paths, against bench/budgets.json (bench/README.md).
counts: $(STAMP)
	$(BIN)/python -m bench.counts --check

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: pytest-sqlite pytest-postgres pytest-pgbouncer

pytest-sqlite: $(STAMP)
	ROSTER_TEST_DATABASE=sqlite $(BIN)/python -m pytest

# The SQLite suite on the newest supported Python, in a virtualenv of its own.
pytest-newest:
	@if [ -z "$(NEWEST_PYTHON)" ]; then \
		echo "no python3.13 here: the SQLite run on the newest Python is skipped"; \
	else \
		$(MAKE) --no-print-directory pytest-sqlite PYTHON=$(NEWEST_PYTHON) VENV=.venv-newest; \
	fi

pytest-postgres: $(STAMP)
	ROSTER_TEST_DATABASE=postgresql ROSTER_TEST_POSTGRES_URL=$(PG_TEST_URL) $(BIN)/python -m pytest

# The multi-worker suites with 4 workers, whose servers reach PostgreSQL through PgBouncer in
# transaction pooling (.ci/pgbouncer starts one on PGBOUNCER).
PGBOUNCER ?= 127.0.0.1:6432
PGBOUNCER_TESTS = tests/test_workers.py tests/test_server.py::test_concurrent_burst
pytest-pgbouncer: $(STAMP)
	ROSTER_TEST_DATABASE=postgresql ROSTER_TEST_POSTGRES_URL=$(PG_TEST_URL) \
	ROSTER_TEST_PGBOUNCER=$(PGBOUNCER) ROSTER_TEST_WORKERS=4 $(BIN)/python -m pytest $(PGBOUNCER_TESTS)

# The sdist and the wheel built from it, as operators install them (tests/test_packaging.py).
dist: $(STAMP)
	$(BIN)/python -m build --outdir dist .

# `make bench BENCH_ARGS=--quick` for a short smoke run, BACKEND=postgresql for the local
# PostgreSQL server; see bench/README.md.
# PEERS=DIR (a folder holding the peer apps flask_sync/ and fastapi/) then runs them beside
# Roster, interleaved, through the same harness (bench.compare; COMPARE_ARGS for more).
BACKEND ?= sqlite
PEERS ?=
bench: $(STAMP)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench.run --backend $(BACKEND) $(BENCH_ARGS)
	if [ -n "$(PEERS)" ]; then $(BIN)/python -m bench.compare --peers "$(PEERS)" $(COMPARE_ARGS); fi

# This checkout beside older ones or the peers, interleaved, e.g.
# make bench-compare COMPARE_ARGS="--checkout before=DIR --peers DIR" (see bench/README.md)
bench-compare: $(STAMP)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench.compare --backend $(BACKEND) $(COMPARE_ARGS)

# Lists at 1,000 and 1,000,000 users: `make bench-scale BACKEND=postgresql`, SCALE_ARGS for more.
bench-scale: $(STAMP)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench.scale --backend $(BACKEND) $(SCALE_ARGS)

# The audit log's lists at 10,000,000 events (docs/API.md §7), with every list shape's plan.
bench-audit: $(STAMP)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench.audit_scale --backend $(BACKEND) $(AUDIT_ARGS)

# A password-reset request's time, registered against unregistered addresses (docs/API.md §6).
bench-reset: $(STAMP)
	$(BIN)/python -m bench.reset_timing $(RESET_ARGS)

# roster-client's cost against raw httpx, 256 concurrent tasks.
bench-client: $(STAMP)
	$(BIN)/python -m bench.client

clean:
	rm -rf $(VENV) .venv-newest .mypy_cache .ruff_cache .pytest_cache build dist *.egg-info
	rm -f roster.db roster.db-wal roster.db-shm
