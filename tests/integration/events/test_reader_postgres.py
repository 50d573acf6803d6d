"""On PostgreSQL ids are given at insert, not at commit: the reader waits for a lower id still uncommitted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, text

from ibflow.core.clock import ManualClock
from ibflow.db.engine import SessionFactory, make_engine, session_factory
from ibflow.db.events.outbox import record_event
from ibflow.db.events.reader import OutboxReader

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_engine(migrated_pg_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_pg_url)
    yield engine
    engine.dispose()


def test_an_event_committed_late_with_a_lower_id_is_not_skipped(
    pg_engine: Engine, clock: ManualClock
) -> None:
    sessions: SessionFactory = session_factory(pg_engine)
    reader = OutboxReader(
        sessions, "serve", clock=clock, start_at_latest=False, gap_wait=timedelta(seconds=10)
    )
    assert reader.position() == 0

    slow = sessions()  # a transaction that inserts first and commits last
    early = record_event(slow, kind="order.refused", at=clock.now(), message="written first, committed last")
    slow.flush()
    with sessions() as session:
        late = record_event(session, kind="order.not_sent", at=clock.now(), message="written second")
        session.commit()
        late_id = late.id
    assert early.id < late_id

    assert reader.fetch() == ([], 0)  # sees only the higher id: waits for the lower one
    clock.advance(timedelta(seconds=3))
    assert reader.fetch() == ([], 0)

    slow.commit()
    events, upto = reader.fetch()
    reader.ack(upto)
    slow.close()

    assert [(e.id, e.message) for e in events] == [
        (early.id, "written first, committed last"),
        (late_id, "written second"),
    ]
    assert reader.position() == late_id


def test_an_event_carries_the_id_of_the_transaction_that_wrote_it(
    pg_engine: Engine, clock: ManualClock
) -> None:
    sessions: SessionFactory = session_factory(pg_engine)
    with sessions() as session:
        first = record_event(session, kind="order.refused", at=clock.now(), message="one")
        second = record_event(session, kind="order.not_sent", at=clock.now(), message="two")
        session.flush()
        txid = session.execute(text("SELECT pg_current_xact_id()::text::bigint")).scalar_one()
        session.commit()
        written = (first.txid, second.txid)
    with sessions() as session:
        later = record_event(session, kind="order.refused", at=clock.now(), message="three")
        session.commit()
        assert later.txid > txid

    assert written == (txid, txid)
    assert txid > 0
