"""Fixtures for the paper broker tests: a seeded market and a broker on a migrated SQLite file.

The migrated file is the root conftest's ``engine``: a copy of the session's template database.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from ibflow.brokers.paper import PaperBroker, SimulatedMarket
from ibflow.core.clock import ManualClock
from ibflow.db.engine import SessionFactory
from ibflow.db.models import PaperAccount, PaperFill, PaperOrder, PaperPosition


@pytest.fixture
def market() -> SimulatedMarket:
    """The default simulated market (around the clock), seed 11."""
    return SimulatedMarket(seed=11)


@pytest.fixture
def broker(sessions: SessionFactory, clock: ManualClock, market: SimulatedMarket) -> PaperBroker:
    """A paper broker with USD 100,000 starting cash, on the test's own database and clock."""
    return PaperBroker(sessions, clock, market)


@pytest.fixture
def snapshot(sessions: SessionFactory) -> Callable[[], dict[str, list[tuple[object, ...]]]]:
    """A function returning everything in the paper books, to show that something changed nothing."""

    def take() -> dict[str, list[tuple[object, ...]]]:
        with sessions() as session:
            return {
                "accounts": [
                    (a.account_id, a.cash)
                    for a in session.scalars(select(PaperAccount).order_by(PaperAccount.id))
                ],
                "orders": [
                    (
                        o.id,
                        o.client_order_id,
                        o.status,
                        o.quantity,
                        o.filled_quantity,
                        o.limit_price,
                        o.stop_price,
                    )
                    for o in session.scalars(select(PaperOrder).order_by(PaperOrder.id))
                ],
                "fills": [
                    (f.broker_exec_id, f.quantity, f.price)
                    for f in session.scalars(select(PaperFill).order_by(PaperFill.id))
                ],
                "positions": [
                    (p.conid, p.quantity, p.avg_cost, p.realized_pnl)
                    for p in session.scalars(select(PaperPosition).order_by(PaperPosition.id))
                ],
            }

    return take
