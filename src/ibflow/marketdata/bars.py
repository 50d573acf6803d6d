"""Daily bars through the broker with a database cache, and weekly bars by resampling.

No look-ahead: a request "as of t" returns nothing that began after t; the bar containing t comes from the
broker built only from prices up to t, is marked partial, and is never stored. Complete bars are cached in
``bars``; every request asks the broker only for the tail from the newest cached bar that may contain t, so
a cache warmed by a later request can never leak that later day into an earlier one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ibflow.brokers.base import BarData, Broker
from ibflow.core.clock import ensure_utc
from ibflow.core.ids import Conid
from ibflow.db.models.market import Bar

DAILY = "1d"
WEEKLY = "1w"
COLUMNS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class BarSeries:
    """Bars of one contract, oldest first, as exact values and as a float frame for indicator maths."""

    conid: Conid
    bar_size: str
    as_of: datetime
    bars: tuple[BarData, ...]
    partial_last: bool

    @property
    def frame(self) -> pd.DataFrame:
        """Return the bars as float64 columns open..volume on a UTC ``DatetimeIndex`` named ``ts``."""
        return to_frame(self.bars)

    def __len__(self) -> int:
        return len(self.bars)


def to_frame(bars: tuple[BarData, ...] | list[BarData]) -> pd.DataFrame:
    """Turn bars into the float frame indicators and charts read."""
    index = pd.DatetimeIndex([b.ts for b in bars], name="ts")
    if len(bars) == 0:
        index = pd.DatetimeIndex([], tz="UTC", name="ts")
    values = np.array(
        [[float(b.open), float(b.high), float(b.low), float(b.close), float(b.volume)] for b in bars],
        dtype=np.float64,
    ).reshape(len(bars), 5)
    return pd.DataFrame(values, index=index, columns=list(COLUMNS))


class BarService:
    """Daily bars for a contract as of a time, from the ``bars`` cache and the broker."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    def daily_bars(self, session: Session, *, conid: Conid, as_of: datetime, lookback_days: int) -> BarSeries:
        """Return daily bars that began in ``[as_of - lookback_days, as_of]``; stores new complete bars."""
        as_of = ensure_utc(as_of)
        start = as_of - timedelta(days=lookback_days)
        cached = self._cached(session, conid, start, as_of)
        fetched: list[BarData] = []
        if not cached:
            fetched = self._broker.historical_bars(conid, DAILY, start, as_of)
        else:
            if cached[0].ts > start + timedelta(days=1):
                fetched += [
                    b
                    for b in self._broker.historical_bars(conid, DAILY, start, cached[0].ts)
                    if b.ts < cached[0].ts
                ]
            tail_start = cached[-1].ts  # may contain as_of: always re-read from the broker
            cached = cached[:-1]
            fetched += self._broker.historical_bars(conid, DAILY, tail_start, as_of)
        self._store(session, conid, [b for b in fetched if not b.partial])
        merged = {b.ts: b for b in cached}
        merged.update({b.ts: b for b in fetched if start <= b.ts <= as_of})
        bars = tuple(merged[ts] for ts in sorted(merged))
        return BarSeries(conid, DAILY, as_of, bars, bool(bars) and bars[-1].partial)

    def _cached(self, session: Session, conid: Conid, start: datetime, as_of: datetime) -> list[BarData]:
        rows = session.execute(
            select(Bar.ts, Bar.open, Bar.high, Bar.low, Bar.close, Bar.volume)
            .where(Bar.conid == conid, Bar.bar_size == DAILY, Bar.ts >= start, Bar.ts <= as_of)
            .order_by(Bar.ts)
        ).all()
        return [BarData(*row) for row in rows]

    def _store(self, session: Session, conid: Conid, bars: list[BarData]) -> None:
        if not bars:
            return
        fetched_at = bars[-1].ts
        rows: list[dict[str, Any]] = [
            {
                "conid": conid,
                "bar_size": DAILY,
                "ts": b.ts,
                "open": b.open,
                "high": b.high,
                "low": b.low,
                "close": b.close,
                "volume": b.volume,
                "fetched_at": fetched_at,
            }
            for b in bars
        ]
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        statement = insert(Bar).on_conflict_do_nothing(index_elements=["conid", "bar_size", "ts"])
        session.execute(statement, rows)


def weekly_from_daily(daily: BarSeries) -> BarSeries:
    """Resample daily bars to weeks ending Friday with one ``agg``; the week holding ``as_of`` is partial.

    Weekly values are picks (first, max, min, last) and a sum of daily values, so they are computed on the
    float frame and turned back into the exact decimals they came from (shortest repr round-trips).
    """
    if not daily.bars:
        return BarSeries(daily.conid, WEEKLY, daily.as_of, (), False)
    frame = daily.frame
    frame["first_ts"] = frame.index
    local = frame.set_axis(pd.DatetimeIndex(frame.index).tz_convert("America/New_York"))
    weeks = local.resample("W-FRI").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum", "first_ts": "first"}
    )
    weeks = weeks.dropna(subset=["open"])
    bars = tuple(
        BarData(
            _timestamp(first_ts),
            _decimal(o),
            _decimal(h),
            _decimal(lo),
            _decimal(c),
            _decimal(v),
        )
        for o, h, lo, c, v, first_ts in zip(
            weeks["open"],
            weeks["high"],
            weeks["low"],
            weeks["close"],
            weeks["volume"],
            weeks["first_ts"],
            strict=True,
        )
    )
    friday = 4
    partial = daily.partial_last or local.index[-1].weekday() != friday
    if partial:
        bars = (*bars[:-1], _as_partial(bars[-1]))
    return BarSeries(daily.conid, WEEKLY, daily.as_of, bars, partial)


def _decimal(value: object) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | float):
        return Decimal(repr(float(value)))
    raise TypeError(f"not a number: {value!r}")


def _timestamp(value: object) -> datetime:
    if isinstance(value, pd.Timestamp):
        return ensure_utc(value.to_pydatetime())
    if isinstance(value, datetime):
        return ensure_utc(value)
    raise TypeError(f"not a timestamp: {value!r}")


def _as_partial(bar: BarData) -> BarData:
    return BarData(bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume, partial=True)
