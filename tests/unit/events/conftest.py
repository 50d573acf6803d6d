"""The paper-broker world of the trading tests, for the event tests."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from tests.unit.trading.trading_world import World, build_world

from ibflow.core.clock import ManualClock
from ibflow.db.engine import SessionFactory


@pytest.fixture
def world(engine: Engine, sessions: SessionFactory, clock: ManualClock) -> World:
    return build_world(engine, sessions, clock)
