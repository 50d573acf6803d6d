"""Parsing an analyst's reply: a clean signal, or NO_SIGNAL with the reason — never a silent HOLD."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ibflow.db.states import SignalAction
from ibflow.llm.signals import extract_json, parse_signal

NOW = datetime(2026, 3, 4, 17, 0, tzinfo=UTC)
BUY = (
    '{"action": "BUY", "confidence": 0.72, "entry": 190.25, "stop_loss": 185.1, "take_profit": 201.4,'
    ' "timeframe": "1d", "reasoning": "MACD crossed up above SMA 50", "key_factors": ["macd", "trend"],'
    ' "valid_for_minutes": 90}'
)


def test_a_complete_buy_parses_exactly() -> None:
    signal = parse_signal(BUY, now=NOW)
    assert signal.action is SignalAction.BUY
    assert signal.confidence == Decimal("0.72")
    assert signal.entry == Decimal("190.25")
    assert signal.stop_loss == Decimal("185.1")
    assert signal.take_profit == Decimal("201.4")
    assert signal.key_factors == ("macd", "trend")
    assert signal.expires_at == NOW + timedelta(minutes=90)
    assert signal.no_signal_reason is None
    assert signal.as_dict()["entry"] == "190.25"


@pytest.mark.parametrize(
    "wrapped",
    [
        f"Here is my analysis.\n```json\n{BUY}\n```\nGood luck.",
        f"I think: {BUY} -- end",
        BUY.replace('"BUY"', '" buy "'),
    ],
)
def test_json_inside_prose_or_fences_is_found(wrapped: str) -> None:
    assert parse_signal(wrapped, now=NOW).action is SignalAction.BUY


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("I would hold for now.", "no JSON object"),
        ("", "no JSON object"),
        ('{"action": "MAYBE"}', "action"),
        (
            '{"action": "BUY", "confidence": 1.7, "entry": 1, "stop_loss": 0.9, "take_profit": 2}',
            "confidence",
        ),
        ('{"action": "BUY", "confidence": 0.8, "entry": 190}', "missing stop_loss, take_profit"),
        ('{"action": "BUY", "confidence": 0.8, "entry": -5, "stop_loss": 1, "take_profit": 2}', "entry"),
        ('{"action": "SELL"}', "missing confidence"),
        ('{"action": "NO_SIGNAL", "reasoning": "chart unreadable"}', "returned NO_SIGNAL"),
        (
            '{"action": "BUY", "confidence": 0.8, "entry": 2, "stop_loss": 1, "take_profit": 3,'
            ' "expires_at": "2026-03-04T18:00:00"}',
            "time zone",
        ),
        ("[1, 2, 3]", "no JSON object"),
    ],
)
def test_unparseable_or_incomplete_replies_become_no_signal_with_a_reason(reply: str, reason: str) -> None:
    signal = parse_signal(reply, now=NOW)
    assert signal.action is SignalAction.NO_SIGNAL
    assert signal.no_signal_reason is not None
    assert reason in signal.no_signal_reason
    assert signal.raw_text == reply  # the raw text is kept for the audit trail


def test_hold_needs_no_levels_and_inconsistent_levels_are_left_to_risk() -> None:
    assert parse_signal('{"action": "HOLD", "reasoning": "range"}', now=NOW).action is SignalAction.HOLD
    # stop above entry parses: the risk check (not the parser) blocks it with its reason code
    odd = parse_signal(
        '{"action": "BUY", "confidence": 0.9, "entry": 100, "stop_loss": 110, "take_profit": 120}', now=NOW
    )
    assert odd.action is SignalAction.BUY


def test_explicit_expiry_is_kept_in_utc() -> None:
    reply = '{"action": "SELL", "confidence": 0.6, "expires_at": "2026-03-04T13:00:00-05:00"}'
    assert parse_signal(reply, now=NOW).expires_at == datetime(2026, 3, 4, 18, 0, tzinfo=UTC)


def test_extract_json_prefers_a_whole_object() -> None:
    assert extract_json('{"a": 1}') == {"a": 1}
    assert extract_json("nothing") is None
