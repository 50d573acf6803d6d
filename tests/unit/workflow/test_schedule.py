"""Cron schedules in the strategy's time zone, DST included."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

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
