"""The simulated market's calendars: around the clock with days ending at midnight New York, or NYSE."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from ibflow.brokers.paper.market.calendar import AlwaysOpen, ExchangeSessions, make_calendar, new_york_day
from ibflow.core.errors import ConfigurationError


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_the_trading_day_ends_at_midnight_new_york() -> None:
    calendar = AlwaysOpen()
    span = calendar.span_for(date(2026, 3, 4))
    assert span is not None
    assert (span.start, span.end) == (utc(2026, 3, 4, 5), utc(2026, 3, 5, 5))  # EST
    assert calendar.day_end(utc(2026, 3, 4, 17)) == utc(2026, 3, 5, 5)
    assert calendar.day_end(utc(2026, 3, 5, 4, 59)) == utc(2026, 3, 5, 5)
    assert calendar.day_end(utc(2026, 3, 5, 5)) == utc(2026, 3, 6, 5)  # midnight starts the next day
    assert calendar.span_at(utc(2026, 3, 7, 12)) is not None  # weekends trade too
    assert calendar.last_trading_moment(utc(2026, 3, 7, 12)) == utc(2026, 3, 7, 12)


def test_days_when_the_clocks_change_last_23_and_25_hours() -> None:
    assert new_york_day(date(2026, 3, 8))[1] - new_york_day(date(2026, 3, 8))[0] == timedelta(hours=23)
    assert new_york_day(date(2026, 11, 1))[1] - new_york_day(date(2026, 11, 1))[0] == timedelta(hours=25)
    summer = AlwaysOpen().span_for(date(2026, 7, 1))
    assert summer is not None
    assert summer.start == utc(2026, 7, 1, 4)  # EDT


def test_spans_overlapping_an_interval() -> None:
    spans = AlwaysOpen().spans(utc(2026, 3, 4, 17), utc(2026, 3, 6, 5))
    assert [s.day for s in spans] == [date(2026, 3, 4), date(2026, 3, 5)]


def test_nyse_sessions_skip_weekends_and_holidays_and_know_early_closes() -> None:
    calendar = ExchangeSessions("XNYS")
    wednesday = calendar.span_for(date(2026, 3, 4))
    assert wednesday is not None
    assert (wednesday.start, wednesday.end) == (utc(2026, 3, 4, 14, 30), utc(2026, 3, 4, 21))
    assert calendar.span_for(date(2026, 3, 7)) is None  # Saturday
    assert calendar.span_for(date(2026, 12, 25)) is None  # Christmas
    black_friday = calendar.span_for(date(2026, 11, 27))
    assert black_friday is not None
    assert black_friday.end == utc(2026, 11, 27, 18)  # 13:00 New York


def test_nyse_day_orders_expire_at_the_close_of_this_or_the_next_session() -> None:
    calendar = make_calendar("XNYS")
    assert calendar.day_end(utc(2026, 3, 4, 17)) == utc(2026, 3, 4, 21)
    assert calendar.day_end(utc(2026, 3, 4, 22)) == utc(2026, 3, 5, 21)
    assert calendar.day_end(utc(2026, 3, 6, 22)) == utc(2026, 3, 9, 20)  # over the weekend, into EDT


def test_the_last_trading_moment_outside_a_session_is_the_last_close() -> None:
    calendar = make_calendar("XNYS")
    assert calendar.span_at(utc(2026, 3, 7, 15)) is None
    assert calendar.last_trading_moment(utc(2026, 3, 7, 15)) == utc(2026, 3, 6, 21)
    assert calendar.last_trading_moment(utc(2026, 3, 6, 15)) == utc(2026, 3, 6, 15)
    assert calendar.last_trading_moment(utc(2026, 3, 6, 14)) == utc(2026, 3, 5, 21)  # before the open


def test_unknown_calendars_and_years_outside_the_schedule_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="XLON"):
        make_calendar("XLON")
    with pytest.raises(ConfigurationError, match="covers"):
        ExchangeSessions("XNYS").span_for(date(1980, 1, 2))
    assert isinstance(make_calendar("always"), AlwaysOpen)
