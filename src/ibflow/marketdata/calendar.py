"""The trading day (it ends at midnight New York time: DAY orders expire then; daily loss uses that day) and
the exchange calendar that says which dates trade."""

from __future__ import annotations

import threading
import warnings
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ibflow.core.clock import ensure_utc
from ibflow.core.errors import ConfigurationError

NEW_YORK = ZoneInfo("America/New_York")


def trading_date(at: datetime) -> date:
    """Return the New York calendar date that ``at`` falls in."""
    return ensure_utc(at).astimezone(NEW_YORK).date()


def day_start(day: date) -> datetime:
    """Return the start of trading day ``day`` (midnight New York) in UTC."""
    from datetime import UTC

    return datetime.combine(day, time(0), tzinfo=NEW_YORK).astimezone(UTC)


def day_bounds(at: datetime) -> tuple[datetime, datetime]:
    """Return the UTC start and end of the trading day containing ``at``."""
    day = trading_date(at)
    return day_start(day), day_start(day + timedelta(days=1))


class SessionCalendar:
    """The trading dates of an exchange, from ``exchange_calendars`` (``XNYS``: NYSE, holidays included).

    The schedule is read once per exchange and process, on first use.
    """

    FIRST_YEAR = 1990
    LAST_YEAR = 2045

    def __init__(self, code: str) -> None:
        self.code = code
        self._dates: frozenset[date] | None = None
        self._guard = threading.Lock()

    def is_session(self, day: date) -> bool:
        """Tell whether the exchange trades on New York date ``day``."""
        if not self.FIRST_YEAR <= day.year <= self.LAST_YEAR:
            raise ConfigurationError(
                f"the {self.code} calendar covers {self.FIRST_YEAR}-{self.LAST_YEAR}, not {day.isoformat()}"
            )
        return day in self._sessions()

    def last_session_of_week(self, day: date) -> date | None:
        """Return the last trading date of the week (Saturday to Friday) holding ``day``, if any."""
        friday = day + timedelta(days=(4 - day.weekday()) % 7)
        for back in range(7):
            candidate = friday - timedelta(days=back)
            if self.is_session(candidate):
                return candidate
        return None

    def _sessions(self) -> frozenset[date]:
        with self._guard:
            if self._dates is None:
                self._dates = _load_sessions(self.code, self.FIRST_YEAR, self.LAST_YEAR)
            return self._dates


def _load_sessions(code: str, first_year: int, last_year: int) -> frozenset[date]:
    import exchange_calendars

    # exchange_calendars 4.13 still uses pandas APIs that pandas 3 deprecates; the schedule is read once.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        calendar: Any = exchange_calendars.get_calendar(
            code, start=f"{first_year}-01-01", end=f"{last_year}-12-31"
        )
        return frozenset(ts.date() for ts in calendar.sessions)


XNYS = SessionCalendar("XNYS")
"""The New York Stock Exchange: the calendar of US stocks."""
