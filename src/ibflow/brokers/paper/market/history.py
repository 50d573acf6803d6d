"""The historical market: the paper broker on real daily bars from files instead of the simulated path.

``HistoricalMarket`` is a ``SimulatedMarket`` whose prices come from daily bars (``bar_files``), so the paper
broker, its matching and its commissions work on it unchanged. A daily bar cannot show a price inside a day,
so each session's path is drawn through the bar's four prices in one fixed order: open at the session's
start, low after a third of it, high after two thirds, close at its end (straight lines between, flat at the
open before the session and at the close after it). What follows, with the matching rules of
``matching/fills.py``:

- A limit or stop order fills when the bar's range reaches it, at the order's price, or at the open when the
  session opens beyond it (a gap through).
- A buy limit below the open fills on the way down to the low; a long position's stop (below) is therefore
  always reached before its target (above): when both lie inside one bar, the stop fills first.
- Volume is the file's, spread over the session as the simulated market spreads its own; an order fills up
  to ``participation`` of each minute's volume, so a large order fills in parts.
- Between sessions the quote is the last close and counts as live: a daily backtest decides after the close
  and its orders work from the next session.

Sessions are 09:30-16:00 New York on the dates the files hold (early closes are not modelled); after the
last date (and before the first) every weekday is a session with no volume, so orders placed on the last
bar can rest but never fill.
"""

from __future__ import annotations

import zlib
from bisect import bisect_left, bisect_right
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import numpy as np

from ibflow.brokers.base import BarData, Contract, Quote, QuoteFlag
from ibflow.brokers.paper.market.bar_files import DayBar
from ibflow.brokers.paper.market.calendar import (
    NEW_YORK,
    MarketCalendar,
    TradingSpan,
    new_york_date,
    new_york_day,
)
from ibflow.brokers.paper.market.pathgen import volume_profile
from ibflow.brokers.paper.market.prices import SimulatedMarket
from ibflow.brokers.paper.market.universe import (
    PAPER_ONLY_CONIDS_FROM,
    Instrument,
    Universe,
    default_universe,
)
from ibflow.brokers.paper.matching.fills import to_tick
from ibflow.core.clock import ensure_utc
from ibflow.core.ids import Conid

_MINUTE = timedelta(minutes=1)
SESSION_OPEN = time(9, 30)
SESSION_CLOSE = time(16, 0)
_FILE_ONLY_CONIDS_FROM = PAPER_ONLY_CONIDS_FROM + 50_000_000
"""Made-up conids (this plus the crc32 of the symbol) for the files' symbols the bundled universe lacks."""


class BarCalendar(MarketCalendar):
    """Sessions on the dates the files hold (09:30-16:00 New York); every weekday outside their range."""

    name = "bars"

    def __init__(self, days: set[date]) -> None:
        if not days:
            raise ValueError("a bar calendar needs at least one date")
        self._days = frozenset(days)
        self._first, self._last = min(days), max(days)

    def span_for(self, day: date) -> TradingSpan | None:
        """Return the session of ``day``: a date of the files, or any weekday outside their range."""
        inside = self._first <= day <= self._last
        if (inside and day not in self._days) or (not inside and day.weekday() >= 5):
            return None
        start = datetime.combine(day, SESSION_OPEN, tzinfo=NEW_YORK)
        end = datetime.combine(day, SESSION_CLOSE, tzinfo=NEW_YORK)
        return TradingSpan(day, ensure_utc(start), ensure_utc(end))


class HistoricalMarket(SimulatedMarket):
    """The paper broker's market on daily bars from files; see the module docstring for the fill model."""

    def __init__(
        self,
        bars: dict[str, list[DayBar]],
        *,
        universe: Universe | None = None,
        participation: float = 0.1,
        cache_days: int = 1024,
    ) -> None:
        if not bars:
            raise ValueError("a historical market needs the bars of at least one symbol")
        instruments = [_instrument(symbol, universe or default_universe()) for symbol in sorted(bars)]
        super().__init__(
            seed=0,
            calendar=BarCalendar({bar.day for series in bars.values() for bar in series}),
            universe=Universe(instruments),
            participation=participation,
            cache_days=cache_days,
        )
        self._series = {i.conid: _ticked(bars[i.symbol], i.min_tick) for i in instruments}
        self._days_of = {conid: [bar.day for bar in series] for conid, series in self._series.items()}

    def first_and_last_day(self, conid: int) -> tuple[date, date]:
        """Return the first and last date with a bar of ``conid``."""
        days = self._days_of[Conid(conid)]
        return days[0], days[-1]

    def sessions(self, conid: int, first: date, last: date) -> list[TradingSpan]:
        """Return the sessions in ``[first, last]`` on which ``conid`` has a bar, oldest first."""
        self.instrument(conid)
        spans = (self.calendar.span_for(day) for day in self._days_of[Conid(conid)] if first <= day <= last)
        return [span for span in spans if span is not None]

    def quote(self, conid: int, at: datetime) -> Quote:
        """Return the quote; between sessions the last close counts as live (decisions are made then)."""
        quote = super().quote(conid, at)
        return replace(quote, flag=QuoteFlag.LIVE) if quote.flag is QuoteFlag.STALE else quote

    def daily_bars(self, conid: int, start: datetime, end: datetime) -> list[BarData]:
        """Return the file's bars of sessions begun in ``[start, end)``; the one open at ``end`` is partial
        and built only from the path up to ``end``."""
        start, end = ensure_utc(start), ensure_utc(end)
        self.instrument(conid)
        series, days = self._series[Conid(conid)], self._days_of[Conid(conid)]
        low = bisect_left(days, new_york_date(start) - timedelta(days=1))
        high = bisect_right(days, new_york_date(end) + timedelta(days=1))
        result = []
        for bar in series[low:high]:
            span = self.calendar.span_for(bar.day)
            if span is None or not start <= span.start < end:
                continue
            if span.end > end:
                result.append(self._bar(conid, span, end))
            else:
                result.append(
                    BarData(span.start, bar.open, bar.high, bar.low, bar.close, Decimal(bar.volume))
                )
        return result

    def _day_arrays(
        self, conid: int, day: date
    ) -> tuple[datetime, np.ndarray, np.ndarray, TradingSpan | None]:
        origin, day_end = new_york_day(day)
        minutes = int((day_end - origin) / _MINUTE)
        span = self.calendar.span_for(day)
        bar, before = self._bar_on(conid, day)
        volume = np.zeros(minutes, dtype=np.int64)
        if bar is None or span is None:  # no trading in this symbol today: flat at the last known price
            return origin, np.full(minutes + 1, before), volume, span
        first, stop = int((span.start - origin) / _MINUTE), int((span.end - origin) / _MINUTE)
        knots_x = [0, first, first + (stop - first) // 3, first + 2 * (stop - first) // 3, stop, minutes]
        o, h, low, c = (float(p) for p in (bar.open, bar.high, bar.low, bar.close))
        prices = np.interp(np.arange(minutes + 1), knots_x, [o, o, low, h, c, c])
        volume[first:stop] = np.floor(bar.volume * volume_profile(stop - first))
        return origin, prices, volume, span

    def _bar_on(self, conid: int, day: date) -> tuple[DayBar | None, float]:
        """The bar of ``day`` if the file has one, and the price before it (the last close, or the first
        open before the data begins)."""
        series, days = self._series[Conid(conid)], self._days_of[Conid(conid)]
        index = bisect_right(days, day) - 1
        if index >= 0 and days[index] == day:
            bar = series[index]
            return bar, float(series[index - 1].close if index else bar.open)
        return None, float(series[index].close if index >= 0 else series[0].open)


def _ticked(series: list[DayBar], tick: Decimal) -> list[DayBar]:
    """The bars with prices on the tick, so that every fill (on the tick) lies inside its bar."""

    def on_tick(value: Decimal) -> Decimal:
        return to_tick(float(value), tick)

    return [
        DayBar(
            bar.day, on_tick(bar.open), on_tick(bar.high), on_tick(bar.low), on_tick(bar.close), bar.volume
        )
        for bar in series
    ]


def _instrument(symbol: str, universe: Universe) -> Instrument:
    """The bundled universe's instrument for ``symbol`` (the same conid as live), else a made-up one."""
    for instrument in universe:
        if instrument.symbol == symbol:
            return instrument
    conid = Conid(_FILE_ONLY_CONIDS_FROM + zlib.crc32(symbol.encode()) % 10_000_000)
    contract = Contract(conid, symbol, symbol, "STK", "SMART", "USD", Decimal("0.01"))
    return Instrument(contract, Decimal(100), 0.2, 0.4, 1_000_000)
