# The README's commands. Everything a fresh machine needs is installed from here.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# `make run PORT=9000 HOST=0.0.0.0` overrides; otherwise `leadgate serve` reads LEADGATE_PORT
# and LEADGATE_HOST from the environment or .env (default 127.0.0.1:8000).
SERVE_ARGS := $(if $(filter command line,$(origin HOST)),--host $(HOST)) \
	$(if $(filter command line,$(origin PORT)),--port $(PORT))

.PHONY: run test install install-dev lint typecheck schema migrations clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## run: migrate the SQLite file, seed the demo data once, serve on LEADGATE_HOST:LEADGATE_PORT
run: install
	$(BIN)/leadgate db migrate
	$(BIN)/leadgate demo seed --if-empty
	LEADGATE_DEV=1 LEADGATE_DEV_ANONYMOUS_ADMIN=1 $(BIN)/leadgate serve $(strip $(SERVE_ARGS))

## test: install the dev extras and run the suite (SQLite unless LEADGATE_TEST_DATABASE_URL is set)
test: install-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

schema: install
	$(BIN)/leadgate graphql export-schema > schema/schema.graphql

clean:
	rm -rf $(VENV) leadgate.sqlite3*
