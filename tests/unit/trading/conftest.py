"""Fixtures of the trading-core tests: a paper-broker world, and read retries that wait on its clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from tests.unit.trading.trading_world import Crash, World, build_world, retries_on_the_clock

from ibflow.core import faultpoints
from ibflow.core.clock import ManualClock
from ibflow.db.engine import SessionFactory


@pytest.fixture
def world(engine: Engine, sessions: SessionFactory, clock: ManualClock) -> World:
    """The services under test on a paper broker (a test module may define its own, e.g. a thin market)."""
    return build_world(engine, sessions, clock)


@pytest.fixture
def retries_on_clock(clock: ManualClock) -> Iterator[None]:
    """Waits between read retries pass on the test's clock, not the wall's (``usefixtures`` it)."""
    with retries_on_the_clock(clock):
        yield


@pytest.fixture
def crash_at() -> Iterator[list[str]]:
    """Crash (raise ``Crash``) at the fault points put in the list, each once."""
    armed: list[str] = []

    def handler(name: str) -> None:
        if name in armed:
            armed.remove(name)
            raise Crash(name)

    faultpoints.install_handler(handler)
    yield armed
    faultpoints.install_handler(None)
