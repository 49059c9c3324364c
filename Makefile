# Bellamy Book — the commands a developer and CI use. Every target prints what it does and
# is idempotent: a second run reuses the virtualenv, the installed packages and the services.
#
#   make run     embedded default (SQLite, in-process events, eager Celery, in-memory layers)
#                served at http://127.0.0.1:8000 (HTTP + WebSocket)
#   make test    install, start the real services (bin/services), run the whole pytest suite
#   make stack   the same app on the production backends: web, one worker per queue, beat,
#                forwarder, against the services
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
# does not answer fails the run (BELLAMY_REQUIRE_SERVICES=1).
TEST_ENV := DJANGO_DEBUG=0 \
	DJANGO_SECRET_KEY=test-only-secret-key-not-for-production-0123456789 \
	DATABASE_URL=postgres://bellamy:bellamy@127.0.0.1:5432/bellamy \
	REDIS_URL=redis://127.0.0.1:6379/15 \
	BELLAMY_REQUIRE_SERVICES=1

.PHONY: help install install-test run migrate test test-fast services services-stop stack clean

help:
	@sed -n '2,12p' Makefile

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

install: $(VENV)/.installed-runtime
install-test: $(VENV)/.installed-test

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

test: install-test services
	@echo "==> running the whole test suite against the real services"
	$(TEST_ENV) $(VENV)/bin/pytest $(PYTEST_ARGS)

stack: install-test services
	@echo "==> running the production stack (bin/stack): web, workers, beat, forwarder"
	bin/stack

clean:
	rm -rf .data
