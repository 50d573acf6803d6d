# ibflow: the two commands are `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt
GATE := bash scripts/gate
# The CI tiers (static, unit, integration, runtime, backtest, browser, simulation, coverage) are listed, with their budgets, in .ci/tiers.
TIERS := $(shell awk '$$1 ~ /^[a-z]/ {print $$1}' .ci/tiers)
SECONDS ?= 600

.PHONY: run test lint types contracts coverage-report soak bench screenshots migrate clean $(TIERS)

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

# Every tier of .ci/tiers in order, each against its time budget, then a summary table (scripts/tiers).
test: $(VENV)/.dev
	@bash scripts/tiers

# One tier alone: `make unit`, `make integration`, ... (any name in .ci/tiers).
$(TIERS): $(VENV)/.dev
	@bash scripts/tiers $@

# The coverage tier: the pytest tiers' data (var/coverage/.coverage.TIER, kept for a re-run) combined into
# var/.coverage, var/coverage.xml written, and the floor (pyproject fail_under) applied once to the total.
coverage-report: $(VENV)/.dev
	@$(BIN)/coverage combine --keep -q --data-file=var/.coverage var/coverage/.coverage.*
	@$(BIN)/coverage xml -q --data-file=var/.coverage -o var/coverage.xml
	@$(BIN)/coverage report --data-file=var/.coverage

# The simulation's soak test for SECONDS (default 600): `make soak SECONDS=3600`. Not part of `make test`.
soak: $(VENV)/.dev
	IBFLOW_SOAK_SECONDS=$(SECONDS) $(BIN)/pytest tests/simulation -q -s -k soak -p no:cacheprovider \
		--timeout=$$(( $(SECONDS) + 600 ))

# Refresh the screenshots the docs use (docs/images/screenshots.txt) from a run of the browser tests.
screenshots: $(VENV)/.dev
	@bash scripts/screenshots

bench: $(VENV)/.dev
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage* var/coverage.xml var/coverage var/.coverage var/tiers.log
