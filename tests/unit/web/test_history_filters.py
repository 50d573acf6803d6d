"""The history pages' filter form: what it accepts, and the message for what it does not."""

from __future__ import annotations

from datetime import UTC, datetime

from ibflow.web.pages.history_filters import FilterForm

FIELDS = ("status", "strategy", "from", "to", "before")


def test_empty_fields_filter_nothing_and_leave_no_error() -> None:
    form = FilterForm({}, FIELDS)
    assert form.choice("status", ["queued", "failed"], "status") is None
    assert form.identifier("strategy", {1: "a"}, "strategy") is None
    assert form.window() == (None, None)
    assert form.cursor() is None
    assert form.errors == {}
    assert form.query() == ""


def test_values_are_read_case_blind_and_days_become_a_utc_window_including_the_last() -> None:
    form = FilterForm(
        {"status": " FAILED ", "strategy": "1", "from": "2026-03-01", "to": "2026-03-02"}, FIELDS
    )
    assert form.choice("status", ["queued", "failed"], "status") == "failed"
    assert form.identifier("strategy", {1: "a"}, "strategy") == 1
    assert form.window() == (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC))
    assert form.errors == {}
    assert form.query(before=42) == "status=FAILED&strategy=1&from=2026-03-01&to=2026-03-02&before=42"
    assert form.query(status=None) == "strategy=1&from=2026-03-01&to=2026-03-02"


def test_each_bad_value_gets_a_message_under_its_own_field() -> None:
    form = FilterForm(
        {"status": "asleep", "strategy": "7", "from": "20260301", "to": "2026-02-30", "before": "-3"}, FIELDS
    )
    assert form.choice("status", ["queued", "failed"], "status") is None
    assert form.identifier("strategy", {1: "a"}, "strategy") is None
    assert form.window() == (None, None)
    assert form.cursor() is None
    assert form.errors == {
        "status": "“asleep” is not a status: choose one of queued, failed.",
        "strategy": "There is no strategy 7.",
        "from": "“20260301” is not a day: write it as YYYY-MM-DD (UTC), e.g. 2026-03-04.",
        "to": "“2026-02-30” is not a day: write it as YYYY-MM-DD (UTC), e.g. 2026-03-04.",
        "before": "“-3” is not a place in the list (an id).",
    }


def test_a_last_day_before_the_first_is_refused_on_the_last() -> None:
    form = FilterForm({"from": "2026-03-05", "to": "2026-03-01"}, FIELDS)
    form.window()
    assert form.errors == {"to": "The last day (2026-03-01) is before the first (2026-03-05)."}


def test_an_id_must_be_a_plain_whole_number_of_at_most_18_digits() -> None:
    for text in ("abc", "²", "1.5", "0", "1" * 19):
        form = FilterForm({"strategy": text}, FIELDS)
        assert form.identifier("strategy", {1: "a"}, "strategy") is None
        assert form.errors["strategy"] == f"“{text}” is not a strategy id (a whole number)."
