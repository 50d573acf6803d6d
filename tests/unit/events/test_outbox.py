"""``record_event`` holds to the catalogue; the shared ``OutboxReader`` hands out each event once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from ibflow.core.clock import ManualClock
from ibflow.db.engine import SessionFactory
from ibflow.db.events.outbox import record_event
from ibflow.db.events.reader import OutboxReader, events_after, latest_event_id
from ibflow.db.models import Event, EventCursor

_RISK = {"allowed": False, "reason": "MAX_POSITIONS", "detail": "3 open"}


def _write(
    sessions: SessionFactory, clock: ManualClock, *kinds: str, first_id: int | None = None
) -> list[int]:
    """Write events of ``kinds`` (with explicit ids from ``first_id`` when given); return their ids."""
    payloads = {
        "risk.blocked": _RISK,
        "trading.state_changed": {"from": "active", "to": "halted", "actor": "trader-1", "reason": "news"},
    }
    with sessions() as session:
        rows = []
        for index, kind in enumerate(kinds):
            row = record_event(
                session, kind=kind, at=clock.now(), message=f"{kind} #{index}", payload=payloads.get(kind)
            )
            if first_id is not None:
                row.id = first_id + index
            rows.append(row)
        session.commit()
        return [row.id for row in rows]


def _reader(
    sessions: SessionFactory, clock: ManualClock, name: str = "serve", **options: object
) -> OutboxReader:
    return OutboxReader(sessions, name, clock=clock, **options)  # type: ignore[arg-type]


def _drain(reader: OutboxReader) -> list[int]:
    events, upto = reader.fetch()
    reader.ack(upto)
    return [event.id for event in events]


def test_an_unknown_kind_is_refused(sessions: SessionFactory, clock: ManualClock) -> None:
    with (
        sessions() as session,
        pytest.raises(ValueError, match=r"order\.teleported.*not in db/events/catalogue"),
    ):
        record_event(session, kind="order.teleported", at=clock.now(), message="?")


def test_a_payload_missing_a_documented_key_is_refused(sessions: SessionFactory, clock: ManualClock) -> None:
    with sessions() as session:
        with pytest.raises(ValueError, match=r"risk\.blocked lacks payload keys detail"):
            record_event(
                session, kind="risk.blocked", at=clock.now(), payload={"allowed": False, "reason": "X"}
            )
        with pytest.raises(ValueError, match="lacks payload keys allowed, reason, detail"):
            record_event(session, kind="risk.blocked", at=clock.now())
        session.rollback()
    with sessions() as session:
        assert session.scalars(select(Event)).all() == []


def test_a_new_consumer_starts_at_the_newest_event_or_at_the_start(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    old = _write(sessions, clock, "order.refused", "order.not_sent")
    latest = _reader(sessions, clock, "serve")
    everything = _reader(sessions, clock, "notify", start_at_latest=False)

    assert latest.position() == old[-1]
    assert everything.position() == 0
    new = _write(sessions, clock, "order.unmatched")
    assert _drain(latest) == new
    assert _drain(everything) == old + new


def test_fetch_and_ack_deliver_each_event_once_in_order(sessions: SessionFactory, clock: ManualClock) -> None:
    reader = _reader(sessions, clock, start_at_latest=False)
    ids = _write(sessions, clock, *["order.refused"] * 5)

    first, upto = reader.fetch(limit=3)
    reader.ack(upto)
    second, upto = reader.fetch(limit=3)
    reader.ack(upto)

    assert [e.id for e in first] == ids[:3]
    assert [e.id for e in second] == ids[3:]
    assert [e.message for e in first + second] == [f"order.refused #{i}" for i in range(5)]
    assert reader.fetch() == ([], ids[-1])
    with sessions() as session:
        assert session.get_one(EventCursor, "serve").last_event_id == ids[-1]


def test_a_consumer_that_crashes_before_its_ack_gets_the_events_again(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    ids = _write(sessions, clock, "order.refused", "order.not_sent")
    before_crash = _reader(sessions, clock, start_at_latest=False)
    handed, _upto = before_crash.fetch()  # handled halfway, then the process dies: no ack

    after_restart = _reader(sessions, clock, start_at_latest=False)

    assert [e.id for e in handed] == ids
    assert _drain(after_restart) == ids
    assert _drain(_reader(sessions, clock, start_at_latest=False)) == []


def test_a_kinds_filter_skips_other_kinds_and_moves_past_them(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    reader = _reader(sessions, clock, start_at_latest=False, kinds={"risk.blocked"})
    ids = _write(sessions, clock, "order.refused", "risk.blocked", "order.not_sent", "order.unmatched")

    events, upto = reader.fetch()
    reader.ack(upto)

    assert [(e.id, e.kind, e.payload) for e in events] == [(ids[1], "risk.blocked", _RISK)]
    assert upto == ids[-1]  # the cursor passes the skipped kinds, so they are never read again
    assert reader.position() == ids[-1]
    assert reader.fetch() == ([], ids[-1])


def test_a_gap_in_ids_stops_delivery_until_it_fills(sessions: SessionFactory, clock: ManualClock) -> None:
    reader = _reader(sessions, clock, start_at_latest=False, gap_wait=timedelta(seconds=10))
    _write(sessions, clock, "order.refused", first_id=1)
    _write(sessions, clock, "order.not_sent", first_id=3)  # 2 is still being written by someone else

    assert _drain(reader) == [1]
    clock.advance(timedelta(seconds=5))
    assert _drain(reader) == []  # 3 waits behind the gap
    _write(sessions, clock, "order.unmatched", first_id=2)  # the slow transaction commits

    events, upto = reader.fetch()
    assert [(e.id, e.kind) for e in events] == [(2, "order.unmatched"), (3, "order.not_sent")]
    assert upto == 3


def test_a_gap_still_open_after_the_wait_is_passed_over(sessions: SessionFactory, clock: ManualClock) -> None:
    reader = _reader(sessions, clock, start_at_latest=False, gap_wait=timedelta(seconds=10))
    _write(sessions, clock, "order.refused", first_id=1)
    _write(sessions, clock, "order.not_sent", first_id=4)  # 2 and 3 rolled back: they never come

    assert _drain(reader) == [1]
    clock.advance(timedelta(seconds=9))
    assert _drain(reader) == []
    clock.advance(timedelta(seconds=1))
    assert _drain(reader) == [4]
    assert reader.position() == 4


def test_two_consumers_keep_cursors_of_their_own(sessions: SessionFactory, clock: ManualClock) -> None:
    serve = _reader(sessions, clock, "serve", start_at_latest=False)
    notify = _reader(sessions, clock, "notify", start_at_latest=False)
    ids = _write(sessions, clock, "order.refused", "order.not_sent", "order.unmatched")

    assert _drain(serve) == ids
    assert notify.position() == 0
    first, _upto = notify.fetch(limit=1)
    notify.ack(first[0].id)

    more = _write(sessions, clock, "order.refused")
    assert _drain(serve) == more
    assert _drain(notify) == ids[1:] + more
    with sessions() as session:
        cursors = {c.consumer: c.last_event_id for c in session.scalars(select(EventCursor))}
    assert cursors == {"serve": more[0], "notify": more[0]}


def test_events_after_and_latest_event_id_read_the_outbox_as_it_is(
    sessions: SessionFactory, clock: ManualClock
) -> None:
    with sessions() as session:
        assert latest_event_id(session) == 0
    ids = _write(sessions, clock, "order.refused", "risk.blocked", "order.refused")
    with sessions() as session:
        assert latest_event_id(session) == ids[-1]
        assert [e.id for e in events_after(session, ids[0])] == ids[1:]
        assert [e.kind for e in events_after(session, 0, kinds=["risk.blocked"])] == ["risk.blocked"]
        assert events_after(session, 0, limit=1)[0].as_dict()["message"] == "order.refused #0"
