# ibflow: the two commands are `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt
GATE := bash scripts/gate

.PHONY: run test lint types contracts unit bench migrate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Runtime dependencies only (what `make run` needs).
$(VENV)/.runtime: $(BIN)/python pyproject.toml constraints.txt
	$(PIP_INSTALL) -e .
	@touch $@

# Runtime plus the dev extras (what `make test` needs).
$(VENV)/.dev: $(VENV)/.runtime
	$(PIP_INSTALL) -e ".[dev]"
	@touch $@

# Build .venv if missing, migrate, seed the demo on first start (prints the admin password once), serve.
run: $(VENV)/.runtime
	$(BIN)/ibflow migrate
	$(BIN)/ibflow demo
	exec $(BIN)/ibflow serve

migrate: $(VENV)/.runtime
	$(BIN)/ibflow migrate

lint: $(VENV)/.dev
	@$(GATE) ruff-lint $(BIN)/ruff check src tests benchmarks
	@$(GATE) ruff-format $(BIN)/ruff format --check src tests benchmarks

types: $(VENV)/.dev
	@$(GATE) mypy $(BIN)/mypy src

contracts: $(VENV)/.dev
	@$(GATE) import-linter $(BIN)/lint-imports --no-cache

unit: $(VENV)/.dev
	@$(GATE) pytest $(BIN)/pytest --cov --cov-report=term --cov-report=xml:var/coverage.xml -q

test: lint types contracts unit

bench: $(VENV)/.dev
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage* var/coverage.xml
