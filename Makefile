# call-risk: two commands set everything up on a fresh machine.
#   make run   - venv, install, simulate a year of calls as an agency export (CAD + officer-harm file
#                + mapping), ingest with the join, train + register a champion, serve on 127.0.0.1:3000
#   make test  - venv, install with test extras (and Chromium for the browser test), run the suite
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 3000
PYTEST_ARGS ?=

.PHONY: run test install lint format bench lock clean demo-data browser

install: $(STAMP)

# Versions are locked in constraints.txt: the package registry lags upstream and an unpinned
# install of this stack does not resolve (see pyproject.toml).
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test]"
	@touch $(STAMP)

run: $(STAMP)
	PORT=$(PORT) bash pipelines/demo.sh

# Chromium (Debian package) drives the supervisor-page test; installed here when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else sudo -n apt-get update -qq && sudo -n DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi; } \
	  || echo "warning: could not install chromium; the browser test will fail"

test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

# Regenerate the lock after changing dependencies in pyproject.toml.
lock: $(STAMP)
	{ head -2 constraints.txt; $(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e '; } > constraints.new && mv constraints.new constraints.txt

clean:
	rm -rf demo mlruns mlflow.db history.db .pytest_cache .ruff_cache
