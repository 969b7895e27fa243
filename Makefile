# kstream: `make dev` runs the whole local cloud with a sample episode; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP_PY := $(VENV)/.installed
STAMP_NODE := node_modules/.installed
ROLE ?= user

.PHONY: setup system-packages readme dev test test-unit test-emulator test-e2e token lint openapi bundle bench clean

SYSTEM_PACKAGES := ffmpeg chromium fonts-nanum

setup: system-packages $(STAMP_PY) $(STAMP_NODE)

system-packages: ## ffmpeg (local Transcoder, samples) and chromium (browser tests) from Debian, when missing
	@if ! command -v ffmpeg >/dev/null || ! command -v chromium >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing $(SYSTEM_PACKAGES) with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	  else \
	    echo "missing ffmpeg or chromium: run  sudo apt-get install -y $(SYSTEM_PACKAGES)" >&2; exit 1; \
	  fi; \
	fi

$(STAMP_PY): requirements.txt functions/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

# --omit=optional: firebase-tools' only optional native module (re2, for the hosting emulator) has no prebuilt
# binary offline and compiles from source for minutes; the Auth emulator never loads it.
$(STAMP_NODE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error --omit=optional
	touch $@

dev: setup ## the whole local cloud + a sample episode; keeps its data in .local/data (FRESH=1: start empty); Ctrl-C stops everything
	$(PY) -m local_emulator up $(if $(FRESH),--fresh)

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
