"""Fixtures for the trading-core simulation: one migrated template per run, a folder for the worlds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.simulation.harness import migrated_template
from tests.simulation.runner import TOTALS


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per run; every world starts from a copy."""
    return migrated_template(tmp_path_factory.mktemp("simulation-template"))


@pytest.fixture
def worlds(tmp_path: Path) -> Path:
    """A folder for this test's worlds (the shrinker makes many)."""
    return tmp_path


@pytest.fixture(scope="session", autouse=True)
def _print_totals() -> Iterator[None]:
    yield
    if TOTALS.scenarios:
        print(f"\nsimulation: {TOTALS.line()}")
