"""A PostgreSQL account lock lost while held (its connection dropped) stops the send before the broker.

The server releases a session-level advisory lock when its connection ends, and the process holding it
would not notice: another process could then take the lock and send too. The sender asks the server
right before the broker call whether it still holds the lock, and stops with ``LockLost`` if not; the
bracket stays in ``intent`` (provably never sent) for the next reconciliation to judge again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from tests.conftest import PG_ADMIN_URL
from tests.unit.trading.trading_world import World, build_world

from ibflow.core import faultpoints
from ibflow.core.clock import ManualClock
from ibflow.db import migrate
from ibflow.db.engine import make_engine, session_factory
from ibflow.db.locks import LockLost, NamedLocks
from ibflow.db.states import OrderState

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_world(pg_url: str, clock: ManualClock) -> Iterator[World]:
    migrate.upgrade(pg_url)
    engine = make_engine(pg_url)
    yield build_world(engine, session_factory(engine), clock)
    engine.dispose()


def _drop_lock_connections(database: str) -> int:
    """Terminate every connection of ``database`` holding an advisory lock; return how many."""
    admin = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND a.datname = %s",
            (database,),
        ).fetchall()
    return len(rows)


def test_verify_notices_a_lock_the_server_released(pg_url: str) -> None:
    engine = make_engine(pg_url)
    locks = NamedLocks(engine)
    try:
        with locks.hold("account:X"):
            locks.verify("account:X")  # held: no error
            assert _drop_lock_connections(pg_url.rsplit("/", 1)[-1]) == 1
            with pytest.raises(LockLost, match="account:X"):
                locks.verify("account:X")
    finally:
        engine.dispose()


def test_a_send_whose_lock_was_lost_never_reaches_the_broker(pg_world: World, pg_url: str) -> None:
    world = pg_world
    strategy_id = world.strategy()
    plan = world.plan("target", quiet=timedelta(hours=3))
    world.clock.set(plan.start)
    intent = world.intent(strategy_id, entry=plan.entry, stop=plan.stop, target=plan.target)
    database = pg_url.rsplit("/", 1)[-1]
    dropped: list[int] = []

    def drop(name: str) -> None:
        if name == faultpoints.AFTER_INTENT_COMMIT:
            dropped.append(_drop_lock_connections(database))

    faultpoints.install_handler(drop)
    try:
        with pytest.raises(LockLost):
            world.submit(intent)
    finally:
        faultpoints.install_handler(None)

    assert dropped == [1]
    assert world.broker.calls["place_bracket"] == 0
    assert {o.state for o in world.orders()} == {OrderState.INTENT}
