"""The lineage viewer's wording and geometry: timeline bars, one-line summaries, reward:risk, risk checks."""

from __future__ import annotations

from ibflow.trading.risk.checks import RiskReason
from ibflow.web.pages.lineage_parts import TIMELINE_WIDTH, reward_risk, summary, timeline
from ibflow.workflow.queries.lineage_view import StepStart, risk_checks


def test_bars_sit_at_their_start_sized_by_their_duration_and_never_leave_the_track() -> None:
    bars = timeline([StepStart(1, 0, 100), StepStart(2, 100, 0), StepStart(3, 100, 900)])
    assert [(b.x, b.width) for b in bars] == [(0, 100), (100, 3), (100, 900)]
    assert all(b.x + b.width <= TIMELINE_WIDTH for b in bars)
    last = timeline([StepStart(1, 0, 1000), StepStart(2, 1000, 0)])[1]
    assert last.x + last.width == TIMELINE_WIDTH  # a zero-length last step still shows, inside the track
    assert timeline([StepStart(1, 0, 0)])[0].width == 3  # nothing took time: no division by zero


def test_a_summary_is_one_short_line_and_survives_what_a_step_did_not_expect() -> None:
    signal = {"action": "BUY", "confidence": "0.9", "entry": "100.5", "stop_loss": "98", "take_profit": "105"}
    assert summary("decide_signal", signal, "out") == "BUY, confidence 0.9, entry 100.5, stop 98, target 105"
    assert summary("decide_signal", {"surprise": [1, 2]}, "out") == "surprise: 2 items"
    assert summary("analyze", None, "in") == "nothing"
    placed = {"orders": [{"state": "working"}, {"state": "inactive"}], "submit": "placed"}
    assert summary("place_orders", placed, "out") == "2 order(s) working, inactive; submit placed"
    assert summary("place_orders", {"closed": True, "position_id": 4}, "out") == "closed True, position_id 4"
    long = summary("load_strategy", {"x": "y" * 500}, "in")
    assert len(long) == 140
    assert long.endswith("…")


def test_reward_risk_of_a_signal() -> None:
    assert reward_risk({"entry": "100", "stop_loss": "96", "take_profit": "112"}) == "3.00"
    assert reward_risk({"entry": "100", "stop_loss": None, "take_profit": "112"}) == "-"
    assert reward_risk({"entry": "100", "stop_loss": "100", "take_profit": "112"}) == "-"


def test_risk_checks_pass_until_the_blocking_one_and_the_rest_are_not_reached() -> None:
    codes = [reason.value for reason in RiskReason]
    allowed = risk_checks({"allowed": True, "reason": None, "detail": "ok"})
    assert [c.code for c in allowed] == codes
    assert {c.result for c in allowed} == {"passed"}
    blocked = risk_checks({"allowed": False, "reason": "REWARD_RISK_TOO_LOW", "detail": "1.2 < 1.5"})
    at = codes.index("REWARD_RISK_TOO_LOW")
    assert {c.result for c in blocked[:at]} == {"passed"}
    assert (blocked[at].result, blocked[at].detail) == ("blocked", "1.2 < 1.5")
    assert {c.result for c in blocked[at + 1 :]} == {"not reached"}
    assert risk_checks(None) == []
    assert risk_checks({"exit": None}) == []
