"""Cron schedules in a strategy's own time zone, DST included, and their human description.

Cron fields are read as local wall-clock times (croniter over naive local datetimes), then placed in the
zone with ``fold=0``: a time that does not exist on the spring-forward day (02:30 in New York) runs at the
same instant as it would have before the change (03:30 local), and a time that occurs twice on the
fall-back day runs once, at its first occurrence. So a 02:30 job runs exactly once on both change days.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from ibflow.core.clock import ensure_utc
from ibflow.core.errors import ValidationError

CRON_FIELDS = 5
_HOUR = timedelta(hours=1)
_NEAR = timedelta(hours=3)


def validate_cron(expression: str) -> str:
    """Return ``expression`` normalised, or raise ``ValidationError`` saying what is wrong with it."""
    cleaned = " ".join(expression.split())
    if len(cleaned.split(" ")) != CRON_FIELDS:
        hint = "give 5 fields (minute hour day month weekday) such as '*/5 * * * *'"
        raise ValidationError("invalid cron expression", {"cron": f"{hint}; got {expression!r}"})
    try:
        croniter(cleaned).get_next(datetime)  # also refuses dates that never come, such as 30 February
    except (ValueError, KeyError, CroniterError) as exc:
        raise ValidationError("invalid cron expression", {"cron": f"{expression!r}: {exc}"}) from exc
    return cleaned


def validate_timezone(name: str) -> ZoneInfo:
    """Return the IANA zone ``name`` or raise ``ValidationError``."""
    try:
        return _zone(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(
            "unknown time zone", {"timezone": f"{name!r} is not an IANA zone such as 'America/New_York'"}
        ) from exc


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=1024)
def _parsed(expression: str) -> croniter:
    """A parsed expression to copy (parsing costs more than the next slot: the dispatcher asks hundreds)."""
    return croniter(expression, datetime(2000, 1, 1, tzinfo=UTC).replace(tzinfo=None))


def _iterator(expression: str, start: datetime) -> croniter:
    iterator = copy.copy(_parsed(expression))  # the parsed fields are shared, never changed
    iterator.set_current(start, force=True)
    return iterator


def _offset_changes_near(zone: ZoneInfo, at: datetime) -> bool:
    """Whether the zone's UTC offset changes within three hours of ``at`` (a DST change day)."""
    return (at - _NEAR).astimezone(zone).utcoffset() != (at + _NEAR).astimezone(zone).utcoffset()


def next_run_after(expression: str, timezone: str, after: datetime) -> datetime:
    """Return the first slot of ``expression`` strictly after ``after``, in UTC."""
    zone = _zone(timezone)
    after_utc = ensure_utc(after)
    local_naive = after_utc.astimezone(zone).replace(tzinfo=None)
    # Near a DST change start one hour back, so a fold (repeated hour) never hides the next wall-clock slot.
    back = _HOUR if _offset_changes_near(zone, after_utc) else timedelta(0)
    iterator = _iterator(expression, local_naive.replace(second=0, microsecond=0) - back)
    while True:
        candidate_naive: datetime = iterator.get_next(datetime)
        candidate = candidate_naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
        if candidate > after_utc:
            return candidate


def slots_between(
    expression: str, timezone: str, first: datetime, end: datetime, limit: int
) -> tuple[int, datetime]:
    """Count the slots in ``[first, end)`` (at most ``limit``) in one pass; return the count and the last."""
    zone = _zone(timezone)
    iterator = croniter(expression, ensure_utc(first).astimezone(zone).replace(tzinfo=None) - _HOUR)
    count, last = 0, first
    while count < limit:
        naive: datetime = iterator.get_next(datetime)
        slot = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
        if slot < first or (count and slot <= last):
            continue  # before the window, or a wall-clock time the spring-forward gap maps to twice
        if slot >= end:
            break
        count, last = count + 1, slot
    return count, last


def describe(expression: str) -> str:
    """Return a sentence such as "Every 5 minutes, Monday through Friday"."""
    from cron_descriptor import get_description

    return str(get_description(expression))
