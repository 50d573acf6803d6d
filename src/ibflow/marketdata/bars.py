"""Daily bars through the broker with a database cache, and weekly bars by resampling.

No look-ahead: a request "as of t" returns nothing that began at or after t; the bar containing t comes from
the broker built only from prices up to t, is marked partial, and is never stored. Complete bars are cached
in ``bars`` with the stretches they cover (``bar_coverage``); a request reads the cache, asks the broker for
the holes, for the tail from the newest cached bar (which may contain t, so a cache warmed by a later
request can never leak that later day into an earlier one) and for bars young enough to be revised.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import DateTime, Numeric, select, text, type_coerce
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from ibflow.brokers.base import BarData, Broker
from ibflow.core.clock import Clock, ensure_utc
from ibflow.core.ids import Conid
from ibflow.core.money import quantize
from ibflow.db.models.market import Bar
from ibflow.marketdata import coverage
from ibflow.marketdata.calendar import XNYS, SessionCalendar

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
        """Return the bars as float64 columns open..volume on a UTC ``DatetimeIndex`` named ``ts``.

        The frame is built once per series (the bars are immutable) and each caller gets its own copy, so
        a caller that adds a column or writes a value never changes what the next one reads.
        """
        built: pd.DataFrame | None = self.__dict__.get("_frame")
        if built is None:
            built = to_frame(self.bars)
            object.__setattr__(self, "_frame", built)  # a cache, not a field: equality and repr ignore it
        return built.copy()

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
    """Daily bars for a contract as of a time, from the ``bars`` cache and the broker.

    A warm answer is always the cold one (the broker's answer for the whole window): the service asks the
    broker for every stretch of the window the cache does not cover (``marketdata.coverage``), for the tail
    from the newest cached bar (it may contain ``as_of``), and again for every bar fetched less than
    ``SETTLE`` after it began (the broker may still revise it: IBKR corrects closing prints), storing the
    revised values. An answer whose first bar lies more than ``TRUSTED_HEAD_GAP`` after the start asked for
    is taken as cut short by the broker: only the bars it holds are recorded as covered, so the missing
    head is asked for again next time.
    """

    SETTLE = timedelta(days=2)
    TRUSTED_HEAD_GAP = timedelta(days=7)

    def __init__(self, broker: Broker, clock: Clock) -> None:
        self._broker = broker
        self._clock = clock

    def daily_bars(self, session: Session, *, conid: Conid, as_of: datetime, lookback_days: int) -> BarSeries:
        """Return daily bars that began in ``[as_of - lookback_days, as_of)``; stores new complete bars."""
        as_of = ensure_utc(as_of)
        start = as_of - timedelta(days=lookback_days)
        cached = self._cached(session, conid, start, as_of)
        known = coverage.stretches(session, conid, DAILY, start, as_of)
        merged = {bar.ts: bar for bar, _ in cached}
        for low, high in self._requests(start, as_of, known, cached):
            answer = self._broker.historical_bars(conid, DAILY, low, high)
            self._store(session, conid, [b for b in answer if not b.partial])
            self._cover(session, conid, low, high, answer)
            merged.update({b.ts: b for b in answer})
        bars = tuple(merged[ts] for ts in sorted(merged) if start <= ts < as_of)
        return BarSeries(conid, DAILY, as_of, bars, bool(bars) and bars[-1].partial)

    def _requests(
        self,
        start: datetime,
        as_of: datetime,
        known: list[coverage.Stretch],
        cached: list[tuple[BarData, datetime]],
    ) -> list[tuple[datetime, datetime]]:
        wanted: list[tuple[datetime, datetime]] = []
        cursor = start
        for first, last in known:
            if first > cursor:
                # A hole; it ends at the next cached bar, so that the bar running into the stretch comes
                # back complete rather than cut at the stretch's start.
                after = [bar.ts for bar, _ in cached if bar.ts >= first]
                wanted.append((cursor, after[0] if after else as_of))
            cursor = max(cursor, last)
        tail = [cursor]
        if cached:
            tail.append(cached[-1][0].ts)  # may still be forming at as_of
        tail += [bar.ts for bar, fetched_at in cached if fetched_at < bar.ts + self.SETTLE]
        tail_start = max(start, min(tail))
        wanted.append((tail_start if tail_start < as_of else start, as_of))
        merged: list[tuple[datetime, datetime]] = []
        for low, high in sorted(wanted):
            if merged and low <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
            else:
                merged.append((low, high))
        return merged

    def _cover(
        self, session: Session, conid: Conid, low: datetime, high: datetime, answer: list[BarData]
    ) -> None:
        partial = [b.ts for b in answer if b.partial]
        covered_to = min(partial or [high, ensure_utc(self._clock.now())])
        complete = [b.ts for b in answer if not b.partial]
        covered_from = low
        if (complete[0] if complete else covered_to) - low > self.TRUSTED_HEAD_GAP:
            if not complete:
                return  # nothing came back for a long stretch: maybe cut short, ask again next time
            covered_from = complete[0]  # cut short at the head: the bars before it are asked again
        if covered_from < covered_to:
            coverage.record(session, conid, DAILY, covered_from, covered_to)

    def _cached(
        self, session: Session, conid: Conid, start: datetime, as_of: datetime
    ) -> list[tuple[BarData, datetime]]:
        on_postgresql = session.get_bind().dialect.name == "postgresql"
        columns = _AS_THE_SERVER_SENDS if on_postgresql else _AS_MAPPED
        rows = session.execute(
            select(*columns)
            .where(Bar.conid == conid, Bar.bar_size == DAILY, Bar.ts >= start, Bar.ts < as_of)
            .order_by(Bar.ts)
        ).all()
        return [(BarData(ensure_utc(row[0]), *row[1:6]), ensure_utc(row[6])) for row in rows]

    def _store(self, session: Session, conid: Conid, bars: list[BarData]) -> None:
        if not bars:
            return
        fetched_at = self._clock.now()
        if session.get_bind().dialect.name == "postgresql":
            _store_postgresql(session, conid, bars, fetched_at)
            return
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
        statement = sqlite.insert(Bar)
        revised = {name: statement.excluded[name] for name in (*COLUMNS, "fetched_at")}
        session.execute(
            statement.on_conflict_do_update(index_elements=["conid", "bar_size", "ts"], set_=revised), rows
        )


_AS_MAPPED: tuple[Any, ...] = (Bar.ts, Bar.open, Bar.high, Bar.low, Bar.close, Bar.volume, Bar.fetched_at)
_SERVER_DECIMAL = Numeric(24, 8, asdecimal=True)
_SERVER_TIME = DateTime(timezone=True)
_AS_THE_SERVER_SENDS = (
    type_coerce(Bar.ts, _SERVER_TIME),
    *(type_coerce(getattr(Bar, name), _SERVER_DECIMAL) for name in COLUMNS),
    type_coerce(Bar.fetched_at, _SERVER_TIME),
)
"""The cached bars' columns on PostgreSQL, read without the ORM types' per-value processing: a request
reads years of bars (~1,100 rows, 5,500 decimals), and the driver already gives ``numeric(24, 8)`` as
``Decimal`` with the 8 places ``ExactDecimal`` would quantize to, and ``timestamptz`` as aware times
(``ensure_utc`` then makes them UTC, as ``UtcDateTime`` does)."""


_UPSERT_POSTGRESQL = text(
    "INSERT INTO bars (conid, bar_size, ts, open, high, low, close, volume, fetched_at) "
    "SELECT :conid, :bar_size, b.ts, b.open, b.high, b.low, b.close, b.volume, :fetched_at "
    "FROM unnest(CAST(:ts AS timestamptz[]), CAST(:open AS numeric[]), CAST(:high AS numeric[]), "
    "CAST(:low AS numeric[]), CAST(:close AS numeric[]), CAST(:volume AS numeric[])) "
    "AS b(ts, open, high, low, close, volume) "
    "ON CONFLICT (conid, bar_size, ts) DO UPDATE SET open = excluded.open, high = excluded.high, "
    "low = excluded.low, close = excluded.close, volume = excluded.volume, fetched_at = excluded.fetched_at"
)


def _store_postgresql(session: Session, conid: Conid, bars: list[BarData], fetched_at: datetime) -> None:
    """Upsert ``bars`` in one statement, each column one array literal the server unnests: a first request
    stores years of bars, which row by row cost the worker and the server a statement each (and the driver
    dumps a list of decimals slower than the server parses their text). The values are checked and
    quantized as ``ExactDecimal`` and ``UtcDateTime`` do for the ORM."""
    columns = {
        "ts": _array(ensure_utc(bar.ts).isoformat() for bar in bars),
        **{name: _array(str(quantize(getattr(bar, name))) for bar in bars) for name in COLUMNS},
    }
    session.execute(
        _UPSERT_POSTGRESQL,
        {"conid": int(conid), "bar_size": DAILY, "fetched_at": ensure_utc(fetched_at), **columns},
    )


def _array(items: Iterable[str]) -> str:
    """A PostgreSQL array literal of items that need no quoting (numbers, ISO times without spaces)."""
    return "{" + ",".join(items) + "}"


def weekly_from_daily(daily: BarSeries, calendar: SessionCalendar = XNYS) -> BarSeries:
    """Resample daily bars to weeks ending Friday (New York dates); the week holding ``as_of`` is partial.

    The last week is complete when its last daily bar is complete and no session of ``calendar`` follows it
    in the week (so a week ending on the Thursday before Good Friday, or on July 3rd, is complete).

    A week's values are picks (first open, highest high, lowest low, last close) and the sum of its
    volumes, the values pandas' ``resample("W-FRI")`` gives; they are taken on the float frame and turned
    back into the exact decimals they came from (shortest repr round-trips). The bars are grouped with
    numpy (a week is a run of bars with the same Friday); a volume that is not a whole number is summed by
    pandas, whose compensated sum a plain one could differ from in the last bit.
    """
    if not daily.bars:
        return BarSeries(daily.conid, WEEKLY, daily.as_of, (), False)
    frame = daily.frame
    local = pd.DatetimeIndex(frame.index).tz_convert("America/New_York")
    days = local.tz_localize(None).to_numpy().astype("datetime64[D]")
    fridays = days + ((4 - local.day_of_week.to_numpy()) % 7).astype("timedelta64[D]")
    starts = np.flatnonzero(np.r_[True, fridays[1:] != fridays[:-1]])
    ends = np.r_[starts[1:], len(days)] - 1
    columns = {name: frame[name].to_numpy(dtype=np.float64) for name in COLUMNS}
    volume = columns["volume"]
    if np.array_equal(volume, np.floor(volume)) and volume.max(initial=0.0) < 2.0**53:
        volumes = np.add.reduceat(volume, starts)  # whole numbers: exact in any order
    else:
        weeks = np.repeat(np.arange(len(starts)), ends - starts + 1)
        volumes = pd.Series(volume).groupby(weeks).sum().to_numpy()
    first_ts = pd.DatetimeIndex(frame.index)[starts]
    bars = tuple(
        BarData(_timestamp(ts), _decimal(o), _decimal(h), _decimal(lo), _decimal(c), _decimal(v))
        for ts, o, h, lo, c, v in zip(
            first_ts,
            columns["open"][starts],
            np.maximum.reduceat(columns["high"], starts),
            np.minimum.reduceat(columns["low"], starts),
            columns["close"][ends],
            volumes,
            strict=True,
        )
    )
    last_day = local[-1].date()
    week_end = calendar.last_session_of_week(last_day)
    partial = daily.partial_last or (week_end is not None and week_end > last_day)
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
