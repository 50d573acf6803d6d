"""The trading day: it ends at midnight New York time (DAY orders expire then; daily loss uses that day)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ibflow.core.clock import ensure_utc

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
