"""Daily bars for a backtest's executions: the bar cache's answers, read from memory instead of SQLite.

Each execution of a live strategy reads its whole lookback (hundreds of bars) back from the ``bars`` table;
in a backtest that decoding is most of ``fetch_market_data``. Only this process writes a backtest's own
database, so ``MirroredBarService`` keeps, beside the table, a copy of every row it holds (loaded once per
contract, then kept up to date by each store), holding exactly what a read of the table returns (decimals
quantized to 8 places as stored, aware UTC times). Everything else, the coverage, the requests to the
broker and what is stored, is ``BarService``'s own, so each answer is the one the table would give.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from ibflow.brokers.base import BarData, Broker
from ibflow.core.clock import Clock, ensure_utc
from ibflow.core.ids import Conid
from ibflow.core.money import quantize
from ibflow.marketdata.bars import BarService

_EVER = (datetime(1900, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))

_Row = tuple[BarData, datetime]
"""A cached bar and when it was fetched."""


class MirroredBarService(BarService):
    """A ``BarService`` whose reads of the ``bars`` table come from an in-memory copy of its rows.

    Only for a database no other process or service writes bars to (a backtest's own file)."""

    def __init__(self, broker: Broker, clock: Clock) -> None:
        super().__init__(broker, clock)
        self._rows: dict[Conid, dict[datetime, _Row]] = {}
        self._order: dict[Conid, list[datetime]] = {}

    def _cached(self, session: Session, conid: Conid, start: datetime, as_of: datetime) -> list[_Row]:
        rows = self._held(session, conid)
        order = self._order[conid]
        begin, end = bisect_left(order, start), bisect_left(order, as_of)
        return [rows[ts] for ts in order[begin:end]]

    def _store(self, session: Session, conid: Conid, bars: list[BarData]) -> None:
        super()._store(session, conid, bars)
        if not bars:
            return
        rows = self._held(session, conid)
        fetched_at = ensure_utc(self._clock.now())
        for bar in bars:
            ts = ensure_utc(bar.ts)
            stored = BarData(
                ts,
                quantize(bar.open),
                quantize(bar.high),
                quantize(bar.low),
                quantize(bar.close),
                quantize(bar.volume),
            )
            rows[ts] = (stored, fetched_at)
        self._order[conid] = sorted(rows)

    def _held(self, session: Session, conid: Conid) -> dict[datetime, _Row]:
        """The rows of ``conid``, read from the table the first time."""
        rows = self._rows.get(conid)
        if rows is None:
            rows = {bar.ts: (bar, fetched) for bar, fetched in super()._cached(session, conid, *_EVER)}
            self._rows[conid] = rows
            self._order[conid] = sorted(rows)
        return rows


def mirrored_bars() -> Callable[[Broker, Clock], BarService]:
    """A factory for ``WorkflowDeps.bar_service`` that hands every execution the same mirrored service per
    broker, so the copy lives as long as the backtest."""
    services: list[tuple[Broker, MirroredBarService]] = []

    def service(broker: Broker, clock: Clock) -> BarService:
        for known, found in services:
            if known is broker:
                return found
        made = MirroredBarService(broker, clock)
        services.append((broker, made))
        return made

    return service
