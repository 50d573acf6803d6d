"""When the simulated market trades: around the clock by default, or NYSE sessions.

Trading days are New York calendar dates. With the default ``always`` calendar the market trades every day
around the clock and the trading day for date D spans ``[D 00:00 New York, D+1 00:00 New York)``: DAY orders
expire at midnight New York and the daily bar of D starts at D's midnight (23 or 25 hours on the days the
clocks change). With ``XNYS`` the span of a date is its NYSE regular session (early closes included) and
dates without a session have none: nothing fills outside the spans, daily bars are per session.
"""

from __future__ import annotations

import threading
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ibflow.core.clock import ensure_utc
from ibflow.core.errors import ConfigurationError

NEW_YORK = ZoneInfo("America/New_York")
_SEARCH_DAYS = 15
"""No market is closed longer than this; bounds the searches for the previous or next span."""


@dataclass(frozen=True)
class TradingSpan:
    """The part of New York date ``day`` during which the market trades, in UTC."""

    day: date
    start: datetime
    end: datetime

    def contains(self, at: datetime) -> bool:
        """Tell whether ``at`` falls inside the span (start included, end excluded)."""
        return self.start <= at < self.end


def new_york_date(at: datetime) -> date:
    """Return the New York calendar date that ``at`` falls in."""
    return ensure_utc(at).astimezone(NEW_YORK).date()


def new_york_day(day: date) -> tuple[datetime, datetime]:
    """Return the UTC start and end of New York date ``day`` (midnight to midnight)."""
    start = datetime.combine(day, time(0), tzinfo=NEW_YORK).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=NEW_YORK).astimezone(UTC)
    return start, end


class MarketCalendar(ABC):
    """The trading spans of the simulated market, one at most per New York date."""

    name: str

    @abstractmethod
    def span_for(self, day: date) -> TradingSpan | None:
        """Return the trading span of New York date ``day``, or ``None`` when the market is closed all day."""

    def spans(self, start: datetime, end: datetime) -> list[TradingSpan]:
        """Return the spans that overlap ``[start, end)``, oldest first."""
        result = []
        day, last = new_york_date(start), new_york_date(end)
        while day <= last:
            span = self.span_for(day)
            if span is not None and span.end > start and span.start < end:
                result.append(span)
            day += timedelta(days=1)
        return result

    def span_at(self, at: datetime) -> TradingSpan | None:
        """Return the span containing ``at``, or ``None`` when the market is closed then."""
        span = self.span_for(new_york_date(at))
        return span if span is not None and span.contains(at) else None

    def day_end(self, at: datetime) -> datetime:
        """Return when a DAY order placed at ``at`` expires: the end of this or else the next span."""
        day = new_york_date(at)
        for offset in range(_SEARCH_DAYS):
            span = self.span_for(day + timedelta(days=offset))
            if span is not None and at < span.end:
                return span.end
        raise ConfigurationError(f"{self.name}: no trading span within {_SEARCH_DAYS} days after {at}")

    def last_trading_moment(self, at: datetime) -> datetime:
        """Return the latest moment at or before ``at`` when the market traded (``at`` itself when open)."""
        day = new_york_date(at)
        for offset in range(_SEARCH_DAYS):
            span = self.span_for(day - timedelta(days=offset))
            if span is None or span.start > at:
                continue
            return at if span.contains(at) else span.end
        raise ConfigurationError(f"{self.name}: no trading span within {_SEARCH_DAYS} days before {at}")


class AlwaysOpen(MarketCalendar):
    """Trades every day around the clock; the trading day ends at midnight New York."""

    name = "always"

    def span_for(self, day: date) -> TradingSpan | None:
        """Return the whole New York day."""
        start, end = new_york_day(day)
        return TradingSpan(day, start, end)


class ExchangeSessions(MarketCalendar):
    """Follows an exchange's regular sessions (``XNYS``: NYSE), holidays and early closes included."""

    FIRST_YEAR = 1995
    LAST_YEAR = 2040
    _schedules: dict[str, dict[date, tuple[datetime, datetime]]] = {}  # noqa: RUF012
    _guard = threading.Lock()

    def __init__(self, code: str = "XNYS") -> None:
        self.name = code
        self._sessions = self._schedule(code)

    @classmethod
    def _schedule(cls, code: str) -> dict[date, tuple[datetime, datetime]]:
        with cls._guard:
            if code not in cls._schedules:
                cls._schedules[code] = _load_schedule(code, cls.FIRST_YEAR, cls.LAST_YEAR)
            return cls._schedules[code]

    def span_for(self, day: date) -> TradingSpan | None:
        """Return the session of ``day``, or ``None`` on weekends and holidays."""
        if not self.FIRST_YEAR <= day.year <= self.LAST_YEAR:
            raise ConfigurationError(
                f"the {self.name} calendar covers {self.FIRST_YEAR}-{self.LAST_YEAR}, not {day.isoformat()}"
            )
        session = self._sessions.get(day)
        return None if session is None else TradingSpan(day, session[0], session[1])


def _load_schedule(code: str, first_year: int, last_year: int) -> dict[date, tuple[datetime, datetime]]:
    import exchange_calendars

    # exchange_calendars 4.13 still uses pandas APIs that pandas 3 deprecates; the schedule is read once.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        calendar: Any = exchange_calendars.get_calendar(
            code, start=f"{first_year}-01-01", end=f"{last_year}-12-31"
        )
        schedule = calendar.schedule
        opens = [ts.to_pydatetime() for ts in schedule["open"]]
        closes = [ts.to_pydatetime() for ts in schedule["close"]]
        days = [ts.date() for ts in schedule.index]
    pairs = zip(days, opens, closes, strict=True)
    return {day: (o.astimezone(UTC), c.astimezone(UTC)) for day, o, c in pairs}


def make_calendar(name: str) -> MarketCalendar:
    """Return the calendar called ``name``: ``always`` or an exchange code (``XNYS``)."""
    if name == "always":
        return AlwaysOpen()
    if name == "XNYS":
        return ExchangeSessions(name)
    raise ConfigurationError(f"unknown paper market calendar {name!r}; use 'always' or 'XNYS'")
