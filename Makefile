# kstream: `make dev` runs the whole local cloud with a sample episode; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP_PY := $(VENV)/.installed
STAMP_NODE := node_modules/.installed
ROLE ?= user

.PHONY: setup dev test test-unit test-emulator test-e2e token lint openapi bundle bench clean

setup: $(STAMP_PY) $(STAMP_NODE)

$(STAMP_PY): requirements.txt functions/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==26.0.1 || true
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(STAMP_NODE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

dev: setup ## the whole local cloud + a sample episode; Ctrl-C stops everything
	$(PY) -m local_emulator up

token: ## print a bearer token of ROLE (user|uploader|admin|service) for the running `make dev`
	@$(PY) -m local_emulator token --role $(ROLE)

test: setup ## every test: unit, emulator and end-to-end
	$(PY) -m pytest

test-unit: setup
	$(PY) -m pytest tests/unit

lint: setup
	$(VENV)/bin/ruff check .

openapi: setup ## regenerate contracts/openapi.yaml from the models
	$(PY) -m contracts.openapi --write

bundle: setup ## the functions' deployment bundle: build/function-source (main.py, kstream, contracts, ...)
	cd functions && PYTHONPATH=.. ../$(PY) -m kstream bundle ../build/function-source

bench: setup
	$(PY) bench/bench_cold_start.py

clean:
	rm -rf .local build

readme: setup ## refresh the README's settings table from functions/kstream/settings.py
	cd functions && PYTHONPATH=.. ../$(PY) -m kstream settings-table --readme ../README.md
