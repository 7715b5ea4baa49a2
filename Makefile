# Everyday commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
LOADTEST_ARGS ?=
SOAK_ARGS ?=
MUTATE_ARGS ?=
REHEARSAL_ARGS ?=

.PHONY: security audit check mutate mutate-sample rehearsal
.PHONY: help install run test test-unit test-integration test-e2e test-routing test-container image faults lint format schemas bench bench-full loadtest broker broker-stop clean

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml uv.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	@UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync --frozen --inexact --quiet --compile-bytecode
	@touch $@

install: $(BIN)/.installed ## Create .venv/ from the lock file (only when it changed)

run: install ## Run coach with demo data on http://127.0.0.1:8000 (a local broker if none runs, stopped with coach)
	@HOST=$(HOST) PORT=$(PORT) $(RUN_SCOPED) tools/dev_run.sh

# The two outages of the suite (the broker's in tests/faults, Kafka Connect's in tests/cdc) last
# 30 s here instead of their default minute: twice the 15 s data-age limit the broker test
# checks, and a minute off the suite. `make faults` runs the broker's for the full minute.
OUTAGE_SECONDS ?= 30

# The suite starts a few thousand Python processes (coach, its writer, the stand-ins): each
# one reads the checkout's modules from their bytecode, compiled once here, instead of
# compiling them again (which it does when PYTHONDONTWRITEBYTECODE is set, as on this machine:
# `coach --help` took 0.88 s of CPU, 0.39-0.52 s with the bytecode).
PY_SOURCES := api coach config consumer events store wod replay rollout monolith_kit rehearsal deploy tests tools bench

test: install ## Run every test (unit, integration, end-to-end on a real Kafka broker, nginx routing, the image)
	@$(BIN)/python -m compileall -q -j 0 $(PY_SOURCES) >/dev/null 2>&1 || true  # errors: pytest reports them
	@COACH_FAULTS_OUTAGE_SECONDS=$${COACH_FAULTS_OUTAGE_SECONDS:-$(OUTAGE_SECONDS)} \
	 COACH_CDC_TEST_DOWNTIME_SECONDS=$${COACH_CDC_TEST_DOWNTIME_SECONDS:-$(OUTAGE_SECONDS)} \
	 $(BIN)/pytest --durations=25 $(PYTEST_ARGS)

test-unit: install ## Unit tests only (no broker, no files)
	@$(BIN)/pytest tests/unit $(PYTEST_ARGS)

test-integration: install ## Integration tests (real SQLite files, no broker)
	@$(BIN)/pytest tests/integration $(PYTEST_ARGS)

test-e2e: install ## End-to-end tests (real Kafka broker)
	@$(BIN)/pytest tests/e2e $(PYTEST_ARGS)

test-routing: install ## nginx routing tests (a real nginx in front of two stand-in backends)
	@$(BIN)/pytest tests/routing $(PYTEST_ARGS)

test-container: install ## The image and the compose stack, run with Docker or podman (builds the image first)
	@$(BIN)/pytest tests/container $(PYTEST_ARGS)

image: ## Build the Dockerfile as localhost/coach:dev (Docker, else podman; a local base when no registry answers)
	@$(PYTHON) tools/image/build.py

# The broker starts inside the scope of machine.py run: stopped at the end when this started
# it (a test that failed, Ctrl-C and SIGTERM included), left running when it ran before.
faults: install ## Fault scenarios (outage, disk full, read-only, partitions; needs root), then a 10-minute soak
	@$(RUN_SCOPED) bash -c '$(PYTHON) tools/kafka/broker.py start \
	  && $(BIN)/pytest tests/faults tests/e2e/test_consumer_faults.py $(PYTEST_ARGS) \
	  && $(BIN)/python tests/faults/soak.py $(SOAK_ARGS)'

lint: install security ## ruff, mypy, the security linter and the dependency audit
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/mypy

check: install ## The quick loop before a commit: format check, lint, types, unit and integration tests but the slow ones (no broker)
	@$(BIN)/ruff format --check .
	@$(BIN)/ruff check .
	@$(BIN)/mypy
	@$(BIN)/pytest tests/unit tests/integration -q -m "not slow" $(PYTEST_ARGS)

SECURITY_SCAN := api consumer store events wod replay rollout coach config monolith_kit

security: install audit ## bandit over the code that ships (settings in pyproject.toml), then the dependency audit
	@$(BIN)/bandit -q -c pyproject.toml -r $(SECURITY_SCAN)

audit: install ## pip-audit of every package pinned in uv.lock (tools/audit_deps.py says when it could not run)
	@$(BIN)/python tools/audit_deps.py

.PHONY: rules
rules: ## Check the Prometheus rules and run their unit tests (promtool, Debian's prometheus package; never the service)
	@command -v promtool >/dev/null || { echo "promtool is missing: apt-get install --no-install-recommends prometheus (see .ci/run)"; exit 1; }
	@cd deploy/prometheus && promtool check rules coach-rules.yml && promtool test rules coach-rules.test.yml coach-rules.3d.test.yml

format: install ## Format the code with ruff
	@$(BIN)/ruff format .
	@$(BIN)/ruff check --fix .

schemas: install ## Regenerate events/schemas/ from the event models
	@$(BIN)/python -m events.schema

# run, faults, bench, bench-full and loadtest run under tools/machine/machine.py run: the servers
# they start (the broker when none ran, PostgreSQL, Connect, nginx, coach) stop when they
# end, Ctrl-C and SIGTERM included.
RUN_SCOPED := $(PYTHON) tools/machine/machine.py run --
# vegeta (bench/tail.py's open loop), from the Go module proxy into $(go env GOPATH)/bin once
VEGETA_INSTALL := command -v vegeta >/dev/null || test -x "$$(go env GOPATH)/bin/vegeta" || \
	go install github.com/tsenart/vegeta/v12@v12.12.0

bench: install ## Run every benchmark at small sizes (a few minutes) and write docs/BENCHMARKS.md
	@command -v wrk >/dev/null || { apt-get update -q && apt-get install -y -q wrk; }
	@$(VEGETA_INSTALL)
	@$(RUN_SCOPED) $(BIN)/python bench/run.py

mutate: install ## Mutation testing of the core, each module against its tests (tools/mutate.py; build/mutation/report.md)
	@nice -n 10 $(BIN)/python tools/mutate.py $(MUTATE_ARGS)

mutate-sample: install ## The same on 25 mutants per module drawn with a fixed seed (for CI), against the baseline
	@nice -n 10 $(BIN)/python tools/mutate.py --sample 25 --seed 34 $(MUTATE_ARGS)

bench-full: install ## The same at the large sizes (1M users, 500,000 events; about 30 minutes)
	@command -v wrk >/dev/null || { apt-get update -q && apt-get install -y -q wrk; }
	@$(VEGETA_INSTALL)
	@$(RUN_SCOPED) $(BIN)/python bench/run.py --full

rehearsal: install ## The migration rehearsed end to end on real parts, with faults (about 15 min; report in rehearsal/out/)
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || { apt-get update -q && apt-get install -y -q nginx; }
	@command -v prometheus >/dev/null || { apt-get update -q && apt-get install -y -q --no-install-recommends prometheus; }
	@$(RUN_SCOPED) $(BIN)/python -m rehearsal $(REHEARSAL_ARGS)

loadtest: install ## Load test through nginx: 100 users at 100 % then 50 % coach (p95 < 5 s, errors < 1 %)
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || { apt-get update -q && apt-get install -y -q nginx; }
	@command -v envsubst >/dev/null || { apt-get update -q && apt-get install -y -q gettext-base; }
	@$(RUN_SCOPED) $(BIN)/python deploy/loadtest/run.py $(LOADTEST_ARGS)

broker: ## Start the local Kafka broker on 127.0.0.1:9092 (or find it running)
	@$(PYTHON) tools/kafka/broker.py start

broker-stop: ## Stop the local Kafka broker
	@$(PYTHON) tools/kafka/broker.py stop

clean: ## Remove the dev projection and caches (not the broker's data)
	rm -rf .coach-dev .pytest_cache .ruff_cache .mypy_cache .hypothesis

# -- change data capture: the monolith's PostgreSQL and outbox relay (tools/cdc/cdc.py) -------
.PHONY: cdc cdc-stop

cdc: install ## Start PostgreSQL 15 (127.0.0.1:5433, database monolith with the outbox) and Kafka Connect with Debezium's outbox connector to the COACH_TOPIC_* topics
	@test -x /usr/lib/postgresql/15/bin/initdb || { apt-get update -q && apt-get install -y -q postgresql-15; }
	@test -n "$${COACH_KAFKA_BOOTSTRAP_SERVERS:-}" || $(PYTHON) tools/kafka/broker.py start
	@$(BIN)/coach topics create
	@$(PYTHON) tools/cdc/cdc.py start

cdc-stop: ## Stop Kafka Connect and PostgreSQL (their state stays in .cdc/)
	@$(PYTHON) tools/cdc/cdc.py stop

# -- what the project runs and keeps on this machine (tools/machine/machine.py) -------------
.PHONY: status clean-all
CONFIRM ?=
DRY_RUN ?=

status: ## What of the project runs here (pid, ports), its state folders, images, containers, volumes
	@$(PYTHON) tools/machine/machine.py status

clean-all: ## Stop the project's servers and remove all it made here (says what first; CONFIRM=yes to skip the question, DRY_RUN=1 to only list)
	@$(PYTHON) tools/machine/machine.py clean-all $(if $(DRY_RUN),--dry-run) $(if $(filter yes,$(CONFIRM)),--yes)

# -- the documentation site (mkdocs.yml; the reference pages are generated at each build) ----
.PHONY: docs docs-serve
DOCS_ADDR ?= 127.0.0.1:8001

docs: install ## Build the documentation site into site/ (strict: a broken link, page or anchor fails)
	@NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --clean

docs-serve: install ## Preview the documentation site on http://127.0.0.1:8001 (rebuilds on each edit)
	@NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --strict --dev-addr $(DOCS_ADDR)
