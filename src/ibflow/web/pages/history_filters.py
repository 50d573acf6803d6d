"""The filter forms of the history pages (executions, signals): read a GET query, say what is wrong with it.

Every value comes in as text and is checked here, so a bad one (an unknown status, ``2026-13-01``) becomes a
message next to its field and the page answers 400, never a 500. The form keeps what was typed, to show it
again; ``query`` rebuilds the URL of the same filters (for the live part and the "Older" link).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

MAX_ID_DIGITS = 18
PAGE_SIZE = 50
"""Rows on one page; "Older" shows the next 50, from an id cursor (``before=ID``), never an OFFSET."""


class FilterForm:
    """A history page's filters, as typed, and each field's problem."""

    def __init__(self, params: Mapping[str, str], fields: Iterable[str]) -> None:
        self.values = {name: (params.get(name) or "").strip() for name in fields}
        self.errors: dict[str, str] = {}

    def choice(self, name: str, allowed: Iterable[str], what: str) -> str | None:
        """The field's value when it is one of ``allowed`` (ignoring case), None when empty."""
        text = self.values[name]
        if not text:
            return None
        options = list(allowed)
        found = next((option for option in options if option.lower() == text.lower()), None)
        if found is None:
            self.errors[name] = f"“{text}” is not a {what}: choose one of {', '.join(options)}."
        return found

    def identifier(self, name: str, known: Mapping[int, str], what: str) -> int | None:
        """The id of one of ``known`` (a strategy, a prompt version), None when empty."""
        text = self.values[name]
        if not text:
            return None
        number = _whole(text)
        if number is None:
            self.errors[name] = f"“{text}” is not a {what} id (a whole number)."
        elif number not in known:
            self.errors[name] = f"There is no {what} {number}."
            return None
        return number

    def window(self, start: str = "from", end: str = "to") -> tuple[datetime | None, datetime | None]:
        """The UTC days ``start``..``end`` (both included) as [since, until)."""
        first, last = self._day(start), self._day(end)
        if first and last and first > last:
            self.errors[end] = f"The last day ({last}) is before the first ({first})."
        since = datetime.combine(first, datetime.min.time(), UTC) if first else None
        until = datetime.combine(last + timedelta(days=1), datetime.min.time(), UTC) if last else None
        return since, until

    def cursor(self, name: str = "before") -> int | None:
        """The "Older" link's cursor: show rows with a smaller id than this one."""
        text = self.values[name]
        if not text:
            return None
        number = _whole(text)
        if number is None:
            self.errors[name] = f"“{text}” is not a place in the list (an id)."
        return number

    def query(self, **changes: str | int | None) -> str:
        """The filters as a query string (empty ones left out), with ``changes`` applied."""
        merged: dict[str, str | int | None] = {**self.values, **changes}
        return urlencode({k: v for k, v in merged.items() if v not in (None, "")})

    def _day(self, name: str) -> date | None:
        text = self.values[name]
        if not text:
            return None
        try:
            day = date.fromisoformat(text)
        except ValueError:
            day = None
        if day is None or len(text) != len("2026-03-04"):  # fromisoformat also takes 20260304
            self.errors[name] = f"“{text}” is not a day: write it as YYYY-MM-DD (UTC), e.g. 2026-03-04."
            return None
        return day


def _whole(text: str) -> int | None:
    plain = text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS  # no "²", no 10**100
    return int(text) if plain and int(text) > 0 else None
