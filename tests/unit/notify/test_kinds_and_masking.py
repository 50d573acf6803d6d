"""Which events are which notification, and URLs shown without their secrets."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ibflow.core.errors import ValidationError
from ibflow.db.events.catalogue import CATALOGUE
from ibflow.db.events.reader import EventView
from ibflow.notify.kinds import DEFAULT_NAMES, NOTIFICATIONS, notification_of, parse_names
from ibflow.notify.transport import check_url, mask_url, scrub

ALL = [n.name for n in NOTIFICATIONS]


def _event(kind: str, **payload: Any) -> EventView:
    return EventView(1, kind, "info", "m", datetime(2026, 3, 4, tzinfo=UTC), None, None, None, None, payload)


@pytest.mark.parametrize(
    ("kind", "payload", "expected"),
    [
        ("order.state_changed", {"to": "filled"}, "order_filled"),
        ("order.state_changed", {"to": "rejected"}, "order_rejected"),
        ("order.state_changed", {"to": "working"}, None),
        ("order.refused", {}, "order_rejected"),
        ("order.needs_confirmation", {}, "needs_confirmation"),
        ("trade.closed", {}, "exit"),
        ("protection.missing", {}, "protection_missing"),
        ("protection.not_replaced", {}, "protection_missing"),
        ("execution.finished", {"status": "failed"}, "execution_failed"),
        ("execution.finished", {"status": "succeeded"}, None),
        ("risk.blocked", {}, "risk_block"),
        ("broker.session_changed", {"healthy": "false"}, "broker_session"),
        ("trading.state_changed", {"to": "HALTED"}, "trading_state"),
        ("reconcile.mismatch", {}, "reconcile_mismatch"),
        ("llm.budget_reached", {}, "llm_budget"),
        ("signal.recorded", {}, None),
    ],
)
def test_each_event_is_the_notification_of_the_issues_list(
    kind: str, payload: dict[str, Any], expected: str | None
) -> None:
    assert kind in CATALOGUE
    found = notification_of(_event(kind, **payload), ALL)
    assert (found.name if found else None) == expected


def test_risk_blocks_are_sent_only_to_targets_that_ask_for_them() -> None:
    assert "risk_block" not in DEFAULT_NAMES
    assert notification_of(_event("risk.blocked"), DEFAULT_NAMES) is None
    assert parse_names(None) == list(DEFAULT_NAMES)
    assert parse_names(["all"]) == ALL
    assert parse_names([" Exit", "order_filled"]) == ["order_filled", "exit"]


def test_an_unknown_notification_name_says_which_names_exist() -> None:
    with pytest.raises(ValidationError, match=r"unknown notification.*fills.*order_filled"):
        parse_names(["fills"])


@pytest.mark.parametrize(
    ("url", "shown", "secrets"),
    [
        ("tgram://123456789:AAHsecretbottoken/555", "tgram://…", ["AAHsecretbottoken", "123456789", "555"]),
        ("mailto://me:hunter22@gmail.com", "mailto://gmail.com/…", ["hunter22", "me"]),
        ("slack://TokenA/TokenB/TokenC/#chan", "slack://…", ["TokenA", "TokenB", "TokenC"]),
        ("discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3", "discord://…", ["JHMHI8qBe7bk2ZwO5U711o3"]),
        ("ntfy://ntfy.sh/my-private-topic", "ntfy://ntfy.sh/…", ["my-private-topic"]),
        ("json://user:pw99@127.0.0.1:8080/hook?token=abcdef", "json://127.0.0.1:8080/…", ["pw99", "abcdef"]),
        ("json://localhost", "json://localhost", []),
    ],
)
def test_a_masked_url_keeps_the_scheme_and_a_host_name_only(url: str, shown: str, secrets: list[str]) -> None:
    assert mask_url(url) == shown
    said = scrub(f"could not reach {url}; token {secrets[0] if secrets else ''} refused", url)
    assert all(secret not in said for secret in secrets), said


def test_a_url_apprise_cannot_use_is_refused_without_being_echoed() -> None:
    with pytest.raises(ValidationError, match="not an apprise URL") as raised:
        check_url("nosuchscheme://user:hunter22@example.com/x")
    assert "hunter22" not in str(raised.value)
    with pytest.raises(ValidationError, match="without spaces"):
        check_url("json://a b")
    assert check_url("  json://127.0.0.1:9/  ") == "json://127.0.0.1:9/"
