"""Which stretches of time the bars cache holds completely, so a request can ask the broker for the rest.

A stretch ``[first, last)`` says: every bar that began at or after ``first`` and before ``last`` is stored.
Stretches that overlap or touch are merged when one is recorded, so filling a hole joins its neighbours.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ibflow.core.clock import ensure_utc
from ibflow.core.ids import Conid
from ibflow.db.models.market import BarCoverage

Stretch = tuple[datetime, datetime]


def stretches(session: Session, conid: Conid, bar_size: str, start: datetime, end: datetime) -> list[Stretch]:
    """Return the recorded stretches that overlap ``[start, end]``, oldest first."""
    rows = session.execute(
        select(BarCoverage.from_ts, BarCoverage.to_ts)
        .where(
            BarCoverage.conid == conid,
            BarCoverage.bar_size == bar_size,
            BarCoverage.from_ts <= end,
            BarCoverage.to_ts >= start,
        )
        .order_by(BarCoverage.from_ts)
    ).all()
    return [(ensure_utc(first), ensure_utc(last)) for first, last in rows]


def record(session: Session, conid: Conid, bar_size: str, first: datetime, last: datetime) -> None:
    """Record that every bar begun in ``[first, last)`` is stored, merging the stretches it touches."""
    overlapping = (
        BarCoverage.conid == conid,
        BarCoverage.bar_size == bar_size,
        BarCoverage.from_ts <= last,
        BarCoverage.to_ts >= first,
    )
    for old_first, old_last in session.execute(
        select(BarCoverage.from_ts, BarCoverage.to_ts).where(*overlapping)
    ).all():
        first, last = min(first, ensure_utc(old_first)), max(last, ensure_utc(old_last))
    session.execute(delete(BarCoverage).where(*overlapping))
    session.add(BarCoverage(conid=conid, bar_size=bar_size, from_ts=first, to_ts=last))
    session.flush()
