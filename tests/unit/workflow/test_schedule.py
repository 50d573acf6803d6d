"""Cron schedules in the strategy's time zone, DST included."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ibflow.core.errors import ValidationError
from ibflow.workflow.runtime.schedule import describe, next_run_after, validate_cron, validate_timezone

NY = ZoneInfo("America/New_York")


def _slots(expression: str, zone: str, start: datetime, end: datetime) -> list[datetime]:
    slots, cursor = [], start
    while True:
        cursor = next_run_after(expression, zone, cursor)
        if cursor >= end:
            return slots
        slots.append(cursor)


@pytest.mark.parametrize(
    ("day_start", "day_end", "expected"),
    [
        # spring forward: 02:30 does not exist; it runs once, at the instant 02:30 EST would have been
        (
            datetime(2026, 3, 8, 5, tzinfo=UTC),
            datetime(2026, 3, 9, 4, tzinfo=UTC),
            datetime(2026, 3, 8, 3, 30, tzinfo=NY),
        ),
        # fall back: 01:00-01:59 repeats, 02:30 happens once (EST)
        (
            datetime(2026, 11, 1, 4, tzinfo=UTC),
            datetime(2026, 11, 2, 5, tzinfo=UTC),
            datetime(2026, 11, 1, 2, 30, tzinfo=NY),
        ),
    ],
)
def test_a_0230_new_york_job_runs_once_on_each_dst_change_day(
    day_start: datetime, day_end: datetime, expected: datetime
) -> None:
    assert _slots("30 2 * * *", "America/New_York", day_start, day_end) == [expected]


def test_slots_are_local_wall_clock_times() -> None:
    slot = next_run_after("0 9 * * 1-5", "America/New_York", datetime(2026, 7, 3, 14, tzinfo=UTC))
    assert slot == datetime(2026, 7, 6, 13, 0, tzinfo=UTC)  # Friday 10:00 EDT has passed -> Monday 09:00 EDT
    winter = next_run_after("0 9 * * *", "America/New_York", datetime(2026, 1, 5, 15, tzinfo=UTC))
    assert winter == datetime(2026, 1, 6, 14, 0, tzinfo=UTC)


def test_every_minute_slots_are_strictly_increasing_and_one_minute_apart() -> None:
    start = datetime(2026, 3, 4, 17, 0, 30, tzinfo=UTC)
    slots = _slots("* * * * *", "UTC", start, datetime(2026, 3, 4, 17, 10, tzinfo=UTC))
    assert slots[0] == datetime(2026, 3, 4, 17, 1, tzinfo=UTC)
    assert len(slots) == 9


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("* * * *", "5 fields"),
        ("61 * * * *", "out of range"),
        ("*/5 * * * * *", "5 fields"),
        ("a b c d e", ""),
    ],
)
def test_invalid_cron_is_refused_with_a_readable_message(expression: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_cron(expression)
    assert "cron" in caught.value.problems
    assert fragment in caught.value.problems["cron"]


def test_valid_cron_is_normalised_and_described() -> None:
    assert validate_cron("  */5   *  * * 1-5 ") == "*/5 * * * 1-5"
    assert describe("*/5 * * * 1-5") == "Every 5 minutes, Monday through Friday"


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown time zone"):
        validate_timezone("Mars/Olympus")
    assert validate_timezone("Europe/Zurich").key == "Europe/Zurich"


def _next_run_after_walking_back_an_hour(expression: str, timezone: str, after: datetime) -> datetime:
    """The reference: every search starts one hour back (what ``next_run_after`` does near a DST change)."""
    from datetime import timedelta

    from croniter import croniter

    zone = ZoneInfo(timezone)
    local = after.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)
    iterator = croniter(expression, local - timedelta(hours=1))
    while True:
        candidate = iterator.get_next(datetime).replace(tzinfo=zone, fold=0).astimezone(UTC)
        if candidate > after:
            return candidate


@settings(max_examples=300, deadline=None)
@given(
    expression=st.sampled_from(["* * * * *", "*/5 * * * *", "30 2 * * *", "0 9 * * 1-5", "15,45 1-3 * * *"]),
    zone=st.sampled_from(["UTC", "America/New_York", "Europe/London", "Australia/Sydney"]),
    after=st.datetimes(
        min_value=datetime(2026, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive; the zone comes below
        max_value=datetime(2027, 12, 31),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
)
def test_the_next_slot_is_the_one_a_search_from_an_hour_back_finds(
    expression: str, zone: str, after: datetime
) -> None:
    # Away from DST changes the search starts at the minute itself (faster: the dispatcher asks hundreds).
    assert next_run_after(expression, zone, after) == _next_run_after_walking_back_an_hour(
        expression, zone, after
    )
