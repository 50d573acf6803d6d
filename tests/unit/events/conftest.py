"""The paper-broker world of the trading tests, for the event tests, and a hook at fault points."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine
from tests.unit.trading.trading_world import World, build_world

from ibflow.core import faultpoints
from ibflow.core.clock import ManualClock
from ibflow.db.engine import SessionFactory


@pytest.fixture
def world(engine: Engine, sessions: SessionFactory, clock: ManualClock) -> World:
    return build_world(engine, sessions, clock)


@pytest.fixture
def meanwhile() -> Iterator[dict[str, Callable[[], None]]]:
    """Map a fault point (core/faultpoints.py) to something that happens there, once."""
    armed: dict[str, Callable[[], None]] = {}

    def handler(name: str) -> None:
        action = armed.pop(name, None)
        if action is not None:
            action()

    faultpoints.install_handler(handler)
    yield armed
    faultpoints.install_handler(None)
