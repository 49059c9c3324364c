# Bellamy Book — the commands a developer and CI use. Every target prints what it does and
# is idempotent: a second run reuses the virtualenv, the installed packages and the services.
#
#   make run     embedded default (SQLite, in-process events, eager Celery, in-memory layers)
#                served at http://127.0.0.1:8000 (HTTP + WebSocket)
#   make test    install, start the real services (bin/services), run the whole pytest suite
#   make stack   the same app on the production backends under supervisord: web, one worker
#                per queue, beat, forwarder, against the services (restarts what crashes)
#   make drill   fault drills (Kafka, a worker, MongoDB, Neo4j, Redis, PostgreSQL) on a private
#                set of services, each under a post burst; one table
#   make bench   every benchmark on the production stack, one table, bench/results/<date>.json
#   make demo    all three real datasets end to end on the production stack + report;
#                EMBEDDED=1: the embedded default (2,000 tweets)
#   make services / make services-stop

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

# Environment of the test suite: PostgreSQL and Redis for everything; Kafka, MongoDB and
# Neo4j are reached by the tests that exercise them (tests/conftest.py), and a service that
# does not answer fails the run (BELLAMY_REQUIRE_SERVICES=1). The race tests run several
# threads that each hold a pooled connection at once, beside the in-process outbox relay's:
# the test process gets a pool of 12 (a deployment's budget is README "Processes").
TEST_ENV := DJANGO_DEBUG=0 \
	DJANGO_SECRET_KEY=test-only-secret-key-not-for-production-0123456789 \
	DATABASE_URL=postgres://bellamy:bellamy@127.0.0.1:5432/bellamy \
	REDIS_URL=redis://127.0.0.1:6379/15 \
	BELLAMY_DB_POOL_MAX=12 \
	BELLAMY_REQUIRE_SERVICES=1

.PHONY: help install install-test browser run migrate test services services-stop stack drill bench clean demo

help:
	@sed -n '1,15p' Makefile

$(PY):
	@echo "==> creating the virtualenv $(VENV) with $$($(PYTHON) --version)"
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed-runtime: requirements.txt | $(PY)
	@echo "==> installing runtime dependencies (requirements.txt)"
	$(PIP) install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-test: requirements-test.txt requirements.txt | $(PY)
	@echo "==> installing runtime and test dependencies (requirements-test.txt)"
	$(PIP) install --quiet -r requirements-test.txt
	@touch $@ $(VENV)/.installed-runtime

# Both write the development .env too, so that `manage.py` works in a set-up checkout
# (explicit environment variables win over it: the tests, the stack and the benchmarks set theirs).
install: $(VENV)/.installed-runtime .env
install-test: $(VENV)/.installed-test .env

# The browser test of the demo's HTML report (tests/demo/test_report_html.py) opens it in
# Debian's Chromium; installed once with apt (as root, or through sudo), skipped when present.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@if command -v chromium >/dev/null 2>&1; then echo "==> Chromium present for the browser test ($$(command -v chromium))"; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  echo "==> installing Chromium (Debian package 'chromium') for the browser test of the demo report"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium \
	  || { $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; }; \
	else echo "Chromium is missing and apt-get is not available: install Chromium (the browser test needs it)" >&2; exit 1; fi

.env:
	@echo "==> writing .env for local development (DJANGO_DEBUG=1; see .env.example) — production sets its own environment"
	@printf '# Written by make for local development; see .env.example for every variable.\nDJANGO_DEBUG=1\n' > .env

migrate: install
	@echo "==> migrating the embedded-default database (.data/db.sqlite3)"
	DJANGO_DEBUG=1 $(PY) manage.py migrate --noinput

run: migrate
	@echo "==> serving Bellamy Book (embedded default) at http://$(HOST):$(PORT)/ — API docs at /api/docs/, Ctrl-C stops"
	DJANGO_DEBUG=1 $(PY) manage.py runserver $(HOST):$(PORT)

services: install-test
	@echo "==> starting PostgreSQL, Redis, Kafka, Neo4j and MongoDB (bin/services)"
	bin/services start

services-stop:
	bin/services stop

test: install-test browser services
	@echo "==> running the whole test suite against the real services"
	$(TEST_ENV) $(VENV)/bin/pytest $(PYTEST_ARGS)

stack: install-test services
	@echo "==> running the production stack under supervisord (bin/stack): web, workers, beat, forwarder"
	bin/stack

# Its own services on other ports (data in .services/drill), really stopped and started; never
# the ones of `make services`. DRILL_ARGS="--only kafka-down" runs one drill.
drill: install-test
	@echo "==> fault drills on a private set of services (deploy/drill.py); results in .data/drill/"
	$(PY) -m deploy.drill $(DRILL_ARGS)

bench: install-test services
	@command -v wrk > /dev/null || { echo "==> installing wrk, the HTTP load generator of bench/http_load.py (Debian package)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); ($$SUDO apt-get install -y -q wrk || ($$SUDO apt-get update -q && $$SUDO apt-get install -y -q wrk)) > /dev/null; }
	@echo "==> running every benchmark on the production stack (bench/run_all.py); results in bench/results/"
	DJANGO_SECRET_KEY=bench-only-secret-key-not-for-production-0123456789 $(PY) bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf .data

# --- make demo: Bellamy Book on the real datasets (../shared/datasets), README "Operations" ----
# Production stack: the services of bin/services, the environment of `bin/stack env`, in its own
# namespace (DEMO_NAMESPACE, default demo; the Redis key prefix, Kafka topic prefix, consumer
# group and MongoDB database derive from it, README "Namespaces") and its own PostgreSQL
# database (DEMO_DB, created if missing), so it never touches the main stack's or the tests' data.
# EMBEDDED=1: the embedded default on .data/demo.sqlite3 (in-process events, eager Celery, ORM
# stores), with the first 2,000 tweets (the full graph and CollegeMsg), as the report says.
DEMO_NAMESPACE ?= demo
DEMO_DB ?= bellamy_demo
DEMO_ENV := BELLAMY_NAMESPACE=$(DEMO_NAMESPACE) DATABASE_URL=postgres://bellamy:bellamy@127.0.0.1:5432/$(DEMO_DB) \
	BELLAMY_LOG_LEVEL=WARNING
DEMO_EMBEDDED_ENV := DJANGO_DEBUG=1 DATABASE_URL=sqlite:///$(CURDIR)/.data/demo.sqlite3 DATABASE_REPLICA_URL= \
	REDIS_URL= CELERY_BROKER_URL= BELLAMY_EVENTS_URL= BELLAMY_NOTIFICATIONS_URL= BELLAMY_GRAPH_URL= \
	BELLAMY_LOG_LEVEL=WARNING
DEMO_ARGS ?=

ifeq ($(EMBEDDED),1)
demo: install
	@echo "==> demo on the embedded default (.data/demo.sqlite3, first 2,000 tweets)"
	@start=$$(date +%s); mkdir -p .data && \
	$(DEMO_EMBEDDED_ENV) $(PY) manage.py migrate --noinput > /dev/null && \
	$(DEMO_EMBEDDED_ENV) $(PY) manage.py demo_run --subset 2000 $(DEMO_ARGS) && \
	echo "==> make demo EMBEDDED=1 took $$(( $$(date +%s) - start )) s"
else
demo: install-test services
	@echo "==> demo on the production stack (database $(DEMO_DB), namespace $(DEMO_NAMESPACE))"
	@start=$$(date +%s); \
	$(PY) -c "import psycopg; c = psycopg.connect('postgresql://bellamy:bellamy@127.0.0.1:5432/postgres', autocommit=True); \
	c.execute('SELECT 1 FROM pg_database WHERE datname = %s', ['$(DEMO_DB)']).fetchone() or c.execute('CREATE DATABASE $(DEMO_DB)')" && \
	export $(DEMO_ENV) && eval "$$(bin/stack env)" && \
	$(PY) manage.py migrate --noinput > /dev/null && \
	$(PY) manage.py demo_run $(DEMO_ARGS) && \
	echo "==> make demo took $$(( $$(date +%s) - start )) s"
endif
