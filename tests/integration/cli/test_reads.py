"""The read commands and the two one-thing actions, through the CLI on a database a trader has used.

Each test reads what a user reads (the table) and what a script reads (``--json``), and checks that they
say the same, with the values the populated day made (see ``populated.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests.integration.cli.conftest import Day
from tests.integration.cli.populated import (
    KILL_SWITCH_ACTOR,
    KILL_SWITCH_REASON,
    OUTSIDE_CONID,
    OUTSIDE_SHARES,
    REASONING,
)
from typer.testing import Result

from ibflow.db.models import AuditLog, Order, OrderEvent
from ibflow.db.states import OrderRole, OrderState

pytestmark = pytest.mark.integration

STEPS = (
    "load_strategy",
    "check_broker",
    "resolve_contract",
    "fetch_market_data",
    "compute_indicators",
    "render_charts",
    "analyze",
    "decide_signal",
    "size_and_check_risk",
    "place_orders",
    "record_portfolio",
)
UNFINISHED = {s.value for s in OrderState if not s.is_terminal}


# --- reading a table -------------------------------------------------------------------------------------


def _json(day: Day, *args: str) -> Any:
    return json.loads(day.read(*args, "--json"))


def _section(text: str, title: str, end: str | None = None) -> str:
    """The lines of ``text`` from the line starting with ``title`` to the one starting with ``end``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    stop = len(lines)
    if end is not None:
        stop = next(i for i, line in enumerate(lines) if i > start and line.startswith(end))
    return "\n".join(lines[start:stop])


def _rows(text: str) -> list[list[str]]:
    """The whitespace-separated words of each line (a table row, cells in order; empty cells vanish)."""
    return [line.split() for line in text.splitlines()]


def _row(*cells: object) -> list[str]:
    """The words a row of these cells shows."""
    return " ".join("" if cell is None else str(cell) for cell in cells).split()


def _flat(text: str) -> str:
    """The text with its wrapping undone: every run of whitespace one space."""
    return " ".join(text.split())


def _money(value: str) -> str:
    """A money figure as people read it: the sign, thousands separators, two decimals and USD."""
    number = Decimal(value)
    return f"{'+' if number > 0 else ''}{number:,.2f} USD"


def _tick(value: str | None, tick: str = "0.01") -> str | None:
    """A price as the table prints it: at the contract's tick (JSON drops trailing zeros: 209.2)."""
    return None if value is None else str(Decimal(value).quantize(Decimal(tick)))


def _one_line_error(result: Result, *words: str) -> str:
    """Bad input: exit code 2, one line on stderr that says what is wrong, nothing on stdout, no traceback."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # typer.Exit, not an exception escaping the command
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    for word in words:
        assert word in lines[0]
    return lines[0]


def _position_cells(item: dict[str, Any]) -> list[str]:
    return _row(
        item["id"],
        item["strategy"],
        item["symbol"],
        item["quantity"],
        *(_tick(item[key], item["tick"]) for key in ("avg_cost", "stop", "target", "market_price")),
        _money(item["unrealized_pnl"]),
    )


def _order_cells(item: dict[str, Any]) -> list[str]:
    price = item["limit_price"] if item["limit_price"] is not None else item["stop_price"]
    return _row(
        item["id"],
        item["strategy"],
        item["symbol"],
        item["role"],
        item["side"],
        item["quantity"],
        item["filled_quantity"],
        item["order_type"],
        _tick(price, item["tick"]),
        item["state"],
        item["reason"],
    )


def _orders_of(day: Day, strategy: str) -> dict[str, dict[str, Any]]:
    return {item["role"]: item for item in _json(day, "orders", "--strategy", strategy)}


# --- status ----------------------------------------------------------------------------------------------


def test_status_says_who_set_trading_to_reducing_and_why(day: Day) -> None:
    text = day.read("status")
    data = _json(day, "status")

    assert data["trading"]["state"] == "REDUCING"
    assert data["trading"]["reason"] == KILL_SWITCH_REASON
    assert data["trading"]["changed_by"] == KILL_SWITCH_ACTOR
    changed_at = data["trading"]["changed_at"]  # 2026-12-06T13:34:19+00:00 -> 2026-12-06 13:34 UTC
    assert text.splitlines()[0] == (
        f"trading REDUCING ({KILL_SWITCH_REASON} by {KILL_SWITCH_ACTOR}, "
        f"{changed_at[:10]} {changed_at[11:16]} UTC)"
    )


def test_status_shows_the_session_and_the_account_money_as_the_snapshot_holds_it(day: Day) -> None:
    text = day.read("status")
    (account,) = _json(day, "status")["accounts"]
    assert account["account_id"] == "PAPER-1"
    assert account["session_healthy"] is True  # lost, then restored: the latest word is healthy

    lines = text.splitlines()
    at = lines.index("account PAPER-1 (paper broker (simulated market))")
    seen = account["session_seen_at"]
    assert lines[at + 1] == f"session: healthy since {seen[:10]} {seen[11:16]} UTC"
    snapshot = account["snapshot_at"]
    assert lines[at + 2] == (
        f"cash {Decimal(account['cash']):,.2f} USD  equity {Decimal(account['equity']):,.2f} USD  "
        f"unrealized {_money(account['unrealized_pnl'])}  (as of {snapshot[:10]} {snapshot[11:16]} UTC)"
    )
    assert lines[at + 3] == f"today's realized P&L {_money(account['realized_today'])}"
    assert Decimal(account["equity"]) > Decimal(account["cash"]) > 0  # two positions and outside shares held


def test_status_lists_the_open_positions_with_stop_target_and_unrealized_pnl(day: Day) -> None:
    text = day.read("status")
    data = _json(day, "status")
    positions = {item["strategy"]: item for item in data["positions"]}
    assert set(positions) == set(day.book.positions)
    table = _rows(_section(text, "open positions (2)", "working orders ("))
    assert table[1] == _row("id strategy symbol qty avg cost stop target last unrealized")
    for name, position_id in day.book.positions.items():
        item = positions[name]
        assert item["id"] == position_id
        assert _position_cells(item) in table
        protection = _orders_of(day, name)  # the live stop and target orders, not a remembered level
        assert item["stop"] == protection["stop"]["stop_price"]
        assert item["target"] == protection["target"]["limit_price"]
        assert protection["stop"]["state"] == protection["target"]["state"] == "working"
        (signal,) = [
            item
            for item in _json(day, "signals", "--strategy", name)
            if item["execution_id"] == day.book.executions[name.split("-")[0]]
        ]
        assert (Decimal(item["stop"]), Decimal(item["target"])) == (
            Decimal(signal["stop_loss"]),
            Decimal(signal["take_profit"]),
        )  # the levels the analyst gave


def test_status_lists_the_working_orders_the_mismatch_and_the_next_runs(day: Day) -> None:
    text = day.read("status")
    data = _json(day, "status")

    working = data["working_orders"]
    assert {item["state"] for item in working} <= UNFINISHED
    assert [item["id"] for item in working] == [
        item["id"] for item in _json(day, "orders", "--state", "working")
    ]
    assert {(item["strategy"], item["role"]) for item in working} == {
        ("aapl-swing", "stop"),
        ("aapl-swing", "target"),
        ("amzn-trend", "stop"),
        ("amzn-trend", "target"),
        ("nvda-dip", "entry"),  # below the market, still waiting
        ("nvda-dip", "stop"),
        ("nvda-dip", "target"),
    }
    orders = _rows(_section(text, f"working orders ({len(working)})", "reconciliation"))
    for item in working:
        assert _order_cells(item) in orders

    (mismatch,) = data["mismatches"]
    assert mismatch["conid"] == OUTSIDE_CONID
    assert (mismatch["ibflow_quantity"], mismatch["broker_quantity"]) == ("0", str(OUTSIDE_SHARES))
    detected = mismatch["detected_at"]
    mismatches = _rows(_section(text, "reconciliation mismatches", "next runs"))
    assert (
        _row(
            "PAPER-1",
            OUTSIDE_CONID,
            0,
            OUTSIDE_SHARES,
            f"{detected[:10]} {detected[11:16]} UTC",
            f"ibflow holds 0, the broker {OUTSIDE_SHARES}",
        )
        in mismatches
    )

    runs = _rows(_section(text, "next runs"))
    assert {run["strategy"] for run in data["next_runs"]} == set(day.book.strategies)
    for run in data["next_runs"]:
        at = run["next_run_at"]
        assert (
            _row(
                run["strategy"], run["symbol"], f"{at[:10]} {at[11:16]} UTC", "*/5 * * * * (America/New_York)"
            )
            in runs
        )


# --- positions, orders, trades, signals ------------------------------------------------------------------


def test_positions_prints_each_open_position_as_its_json_says(day: Day) -> None:
    text = day.read("positions")
    items = _json(day, "positions")
    assert [item["id"] for item in items] == sorted(day.book.positions.values())
    table = _rows(text)
    assert table[0] == ["open", "positions", "(2)"]
    assert table[1] == _row("id strategy symbol qty avg cost stop target last unrealized")
    assert sorted(table[2:4]) == sorted(_position_cells(item) for item in items)
    for item in items:
        assert "." not in item["quantity"]  # 57, not 57.00000000
        assert item["tick"] == "0.01"
    priced = min(item["priced_at"] for item in items)
    assert text.strip().splitlines()[-1] == f"last prices as of {priced[:10]} {priced[11:16]} UTC"

    only = _json(day, "positions", "--strategy", "amzn-trend")
    assert [item["id"] for item in only] == [day.book.positions["amzn-trend"]]
    assert "aapl-swing" not in day.read("positions", "--strategy", "amzn-trend")


def test_positions_of_an_unknown_strategy_is_one_line(day: Day) -> None:
    _one_line_error(day.invoke("positions", "--strategy", "nope"), "'nope'")


def test_orders_prints_every_order_newest_first_as_its_json_says(day: Day) -> None:
    items = _json(day, "orders")
    table = _rows(day.read("orders"))
    assert table[0] == ["orders", f"({len(items)})"]
    assert [item["id"] for item in items] == sorted((item["id"] for item in items), reverse=True)
    for item, line in zip(items, table[2:], strict=True):
        assert line == _order_cells(item)
        assert "." not in item["quantity"]  # whole shares, no trailing zeros

    outside = next(item for item in items if item["role"] == "manual")
    assert (outside["conid"], outside["quantity"], outside["state"]) == (OUTSIDE_CONID, "7", "filled")

    closed = _orders_of(day, "msft-swing")
    (trade,) = _json(day, "trades")
    hit, other = ("stop", "target") if trade["exit_reason"] == "stop" else ("target", "stop")
    assert closed[hit]["state"] == "filled"
    assert closed[other]["state"] == "cancelled"
    assert f"one-cancels-other: the {hit} child filled" in closed[other]["reason"]


def test_orders_filters_by_state_and_by_strategy(day: Day) -> None:
    working = _json(day, "orders", "--state", "working")
    assert working
    assert {item["state"] for item in working} <= UNFINISHED
    filled = _json(day, "orders", "--state", "filled")
    assert {item["state"] for item in filled} == {"filled"}
    assert {item["role"] for item in filled} == {"entry", "stop", "target", "manual"} - {
        "target" if _json(day, "trades")[0]["exit_reason"] == "stop" else "stop"
    }
    table = _rows(day.read("orders", "--state", "filled"))
    assert table[0] == ["orders", f"({len(filled)})"]
    assert table[2:] == [_order_cells(item) for item in filled]

    aapl = _json(day, "orders", "--strategy", "aapl-swing")
    assert {item["strategy"] for item in aapl} == {"aapl-swing"}
    assert [item["role"] for item in aapl] == ["target", "stop", "entry"]
    text = day.read("orders", "--strategy", "aapl-swing", "--state", "working")
    assert [line[0] for line in _rows(text)[2:]] == [
        str(item["id"]) for item in aapl if item["state"] == "working"
    ]


def test_orders_bad_filters_are_one_line_each(day: Day) -> None:
    line = _one_line_error(day.invoke("orders", "--state", "bogus"), "'bogus'", "filled", "cancelled")
    allowed = line.split("use one of: ")[1].split(", ")
    assert len(allowed) == len(set(allowed)), line  # each state named once
    _one_line_error(day.invoke("orders", "--strategy", "nope"), "'nope'")


def test_trades_prints_the_closed_trade_and_since_filters_it(day: Day) -> None:
    (trade,) = _json(day, "trades")
    assert trade["strategy"] == "msft-swing"
    assert trade["exit_reason"] in ("stop", "target")
    gross = Decimal(trade["net_pnl"]) + Decimal(trade["commissions"])
    if trade["exit_reason"] == "target":  # the target is above the entry's limit, so above its fill
        assert gross > 0
    # (a stop is under the entry's limit, but the marketable entry can fill below its limit, under the stop:
    # the day starts at the wall clock, so which happens varies; a stop's gross is not always a loss)
    if (
        trade["r_multiple"] is None
    ):  # no R without risk: the entry filled at or under its stop, which then fired
        assert trade["exit_reason"] == "stop", trade
    closed = trade["closed_at"]
    table = _rows(day.read("trades"))
    assert table[0] == _row("closed trades (1, times UTC)")
    assert table[2] == _row(
        trade["id"],
        "msft-swing",
        "MSFT",
        trade["quantity"],
        _tick(trade["entry_price"]),
        _tick(trade["exit_price"]),
        _money(trade["net_pnl"]),
        None if trade["r_multiple"] is None else f"{Decimal(trade['r_multiple']):.2f}",
        trade["exit_reason"],
        f"{closed[5:10]} {closed[11:16]}",
    )

    assert _json(day, "trades", "--since", closed[:10]) == [trade]
    assert _json(day, "trades", "--since", closed[:16]) == [trade]  # YYYY-MM-DDTHH:MM, before the close
    assert _json(day, "trades", "--since", "2099-01-01") == []
    assert day.read("trades", "--since", "2099-01-01").strip() == "closed trades: none"


def test_trades_since_a_non_date_is_one_line(day: Day) -> None:
    _one_line_error(day.invoke("trades", "--since", "last week"), "'last week'", "YYYY-MM-DD")


def test_signals_shows_buy_sell_hold_and_no_signal_with_what_came_of_each(day: Day) -> None:
    items = _json(day, "signals")
    table = _rows(day.read("signals"))
    assert table[0] == _row(f"signals ({len(items)}, times UTC; levels are entry / stop / target)")
    assert {item["action"] for item in items} == {"BUY", "SELL", "HOLD", "NO_SIGNAL"}
    by_execution = {item["execution_id"]: item for item in items}
    executions = day.book.executions
    assert by_execution[executions["blocked"]]["outcome"] == "blocked"
    assert by_execution[executions["blocked"]]["reason"] == "reward/risk 0.33 is below the minimum 1.5"
    assert by_execution[executions["no_signal"]]["action"] == "NO_SIGNAL"
    assert by_execution[executions["sell"]]["outcome"] == "no_position"
    assert by_execution[executions["aapl"]]["outcome"] == "open"
    for item in items:
        levels = [_tick(item[key]) for key in ("entry", "stop_loss", "take_profit") if item[key] is not None]
        when = item["created_at"]
        expected = _row(
            item["id"],
            item["execution_id"],
            item["strategy"],
            item["action"],
            "" if item["confidence"] is None else f"{Decimal(item['confidence']):.2f}",
            " / ".join(levels),
            item["outcome"],
            f"{when[5:10]} {when[11:16]}",
            "" if item["outcome"] == "ordered" else item["reason"],
        )
        assert expected in table, item

    holds = _json(day, "signals", "--action", "hold")
    assert [item["execution_id"] for item in holds] == [executions["hold"]]
    _one_line_error(day.invoke("signals", "--action", "maybe"), "'maybe'", "NO_SIGNAL")


# --- executions and show ---------------------------------------------------------------------------------


def test_executions_print_the_whole_reason_wrapped_in_a_narrow_terminal(
    day: Day, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    text = day.read("executions")
    items = _json(day, "executions")
    assert [item["id"] for item in items] == sorted(day.book.executions.values(), reverse=True)
    assert max(len(line) for line in text.splitlines()) <= 100

    failed = next(item for item in items if item["id"] == day.book.executions["failed"])
    blocked = next(item for item in items if item["id"] == day.book.executions["blocked"])
    assert failed["reason"] == (
        "check_broker: BrokerError: paper session is not usable: competing session from another login"
    )
    assert blocked["reason"] == ("risk block REWARD_RISK_TOO_LOW: reward/risk 0.33 is below the minimum 1.5")
    flat = _flat(text)
    for item in items:  # the reason is the last column: its wrapped lines follow the row's first line
        when = item["when"]
        assert (
            " ".join(
                _row(
                    item["id"],
                    item["strategy"],
                    f"{when[5:10]} {when[11:16]}",
                    item["trigger"],
                    item["status"],
                    item["outcome"],
                    f"{item['seconds']:.2f}",
                    item["reason"],
                )
            )
            in flat
        ), item
    first_line = next(
        line for line in text.splitlines() if line.split()[:2] == [str(failed["id"]), "meta-watch"]
    )
    assert failed["reason"] not in first_line  # it was wrapped, not cut and not run off the edge
    assert "…" not in text


def test_show_a_blocked_execution_gives_every_step_the_full_reason_and_the_analysts_reasoning(
    day: Day, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "90")
    execution = day.book.executions["blocked"]
    text = day.read("show", str(execution))
    data = _json(day, "show", str(execution))
    wrapped = [line for line in text.splitlines() if not line.startswith(("  sizing: ", "chart "))]
    assert max(len(line) for line in wrapped) <= 90  # a sizing line or chart path stays whole, to copy
    flat = _flat(text)
    block = "risk block REWARD_RISK_TOO_LOW: reward/risk 0.33 is below the minimum 1.5"

    assert text.startswith(f"execution {execution}  tsla-breakout (TSLA)  manual  ")
    assert data["stop_reason"] == block
    assert [step["name"] for step in data["steps"]] == list(STEPS)
    assert [step["status"] for step in data["steps"]] == ["succeeded"] * 9 + ["skipped"] * 2
    for step in data["steps"]:
        cells = _row(step["index"], step["name"], step["status"], step["duration_ms"], step["note"])
        assert " ".join(cells) in flat, step
    assert f"skipped: {block}" in flat
    assert f"stopped: {block}" in flat
    assert "risk blocked (REWARD_RISK_TOO_LOW): reward/risk 0.33 is below the minimum 1.5" in flat
    assert f"analyst: {REASONING}" in flat
    assert data["signal"]["reasoning"] == REASONING
    assert "orders: none" in text
    assert data["orders"] == []


def test_show_an_ordered_execution_gives_sizing_charts_orders_events_and_fills(day: Day) -> None:
    execution = day.book.executions["aapl"]
    text = day.read("show", str(execution))
    data = _json(day, "show", str(execution))
    lines = text.splitlines()

    assert [step["status"] for step in data["steps"]] == ["succeeded"] * 11
    steps = _rows(_section(text, "steps", "signal "))
    for step in data["steps"]:
        assert _row(step["index"], step["name"], step["status"], step["duration_ms"]) in steps

    signal = data["signal"]
    entry, stop = _tick(signal["entry"]), _tick(signal["stop_loss"])
    assert f"signal {signal['id']}: BUY confidence 0.80  entry {entry}  stop {stop}  target " in text
    assert f"analyst: {REASONING}" in _flat(text)
    assert "   - close above SMA 20" in lines
    risk = data["risk"]
    assert risk["allowed"] is True
    quantity = risk["quantity"]
    assert "." not in quantity
    assert f"  size {quantity} at {entry}, stop {stop}, target " in text
    sizing = next(line for line in lines if line.startswith("  sizing: "))
    shown = json.loads(sizing.removeprefix("  sizing: "))
    assert shown["limited_by"] == risk["sizing"]["limited_by"]
    assert shown["size"] == quantity
    assert Decimal(shown["budget"]) == Decimal(risk["sizing"]["budget"])
    decimals = [value for value in shown.values() if isinstance(value, str) and "." in value]
    assert decimals
    assert [value for value in decimals if value.endswith("0")] == []  # 0.01, not 0.01000000

    charts = [line.split(": ", 1)[1] for line in lines if line.startswith("chart ")]
    assert charts
    assert charts == [chart["location"] for chart in data["charts"]]
    for path in charts:
        assert Path(path).is_file()
        assert Path(path).is_relative_to(day.folder)  # this test's copy of the data folder

    assert [history["order"]["role"] for history in data["orders"]] == ["entry", "stop", "target"]
    for history in data["orders"]:
        order = history["order"]
        price = order["limit_price"] or order["stop_price"]
        assert (
            f"order {order['id']} {order['client_order_id']}: {order['role']} {order['side']} "
            f"{order['quantity']} {order['order_type']} {_tick(price)} -> {order['state']}"
        ) in lines
        for event in history["events"]:
            reason = f" ({event['reason']})" if event["reason"] else ""
            assert f"    {event['at'][:19]}Z  {event['from'] or 'new'} -> {event['to']}{reason}" in lines
    first = data["orders"][0]
    assert first["order"]["state"] == "filled"
    (fill,) = first["fills"]
    assert (
        f"    {fill['at'][:19]}Z  fill BUY {quantity} at {_tick(first['order']['avg_fill_price'])}, "
        "commission 1.00 USD"
    ) in lines


def test_show_a_failed_execution_names_the_step_and_the_error(day: Day) -> None:
    execution = day.book.executions["failed"]
    text = day.read("show", str(execution))
    data = _json(day, "show", str(execution))
    error = "check_broker: BrokerError: paper session is not usable: competing session from another login"
    assert data["status"] == "failed"
    assert data["error"] == error
    assert [step["status"] for step in data["steps"]] == ["succeeded", "failed"] + ["skipped"] * 9
    assert f"failed: {error}" in text.splitlines()
    assert "signal: none (the run ended before the analyst answered)" in text
    steps = _rows(_section(text, "steps", "failed: "))
    assert (
        _row(2, "check_broker", "failed", data["steps"][1]["duration_ms"], error.split(": ", 1)[1]) in steps
    )


def test_show_an_unknown_execution_is_one_line(day: Day) -> None:
    _one_line_error(day.invoke("show", "999"), "execution 999 does not exist")
    _one_line_error(day.invoke("show", "999", "--json"), "execution 999 does not exist")


# --- order cancel and position close ---------------------------------------------------------------------


def test_order_cancel_cancels_a_working_entry_audits_it_and_says_so(day: Day) -> None:
    entry = _orders_of(day, "nvda-dip")["entry"]
    assert entry["state"] == "working"
    result = day.invoke("order", "cancel", str(entry["id"]), "--reason", "missed the dip", "--actor", "bob")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"order {entry['id']} ({entry['client_order_id']}) cancelled"

    with day.session() as session:
        order = session.get_one(Order, entry["id"])
        assert order.state is OrderState.CANCELLED
        audit = session.scalars(
            select(AuditLog).where(AuditLog.action == "order.cancel", AuditLog.target_id == str(entry["id"]))
        ).one()
        assert (audit.actor, audit.detail) == ("bob", "missed the dip")
        assert audit.before == {"state": "working"}
    after = _orders_of(day, "nvda-dip")
    assert {item["state"] for item in after.values()} == {"cancelled"}  # its stop and target went with it
    assert entry["id"] not in [item["id"] for item in _json(day, "orders", "--state", "working")]
    status = _section(day.read("status"), "working orders (", "reconciliation")
    assert "nvda-dip" not in status

    again = day.invoke("order", "cancel", str(entry["id"]))
    _one_line_error(again, f"order {entry['id']} is cancelled already")


def test_order_cancel_refuses_an_open_positions_stop_and_an_unknown_id_in_one_line(day: Day) -> None:
    stop = _orders_of(day, "aapl-swing")["stop"]
    position = day.book.positions["aapl-swing"]
    _one_line_error(
        day.invoke("order", "cancel", str(stop["id"])),
        "would leave the position unprotected",
        f"`ibflow position close {position}`",
    )
    assert _orders_of(day, "aapl-swing")["stop"]["state"] == "working"
    _one_line_error(day.invoke("order", "cancel", "999"), "order 999 does not exist")
    with day.session() as session:
        assert session.scalars(select(AuditLog).where(AuditLog.action == "order.cancel")).all() == []


def test_position_close_cancels_the_protection_then_sends_a_reduce_only_exit(day: Day) -> None:
    position = day.book.positions["aapl-swing"]
    before = _orders_of(day, "aapl-swing")
    held = before["entry"]["filled_quantity"]
    result = day.invoke("position", "close", "aapl-swing", "--reason", "take it off", "--actor", "carol")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    with day.session() as session:
        (exit_order,) = session.scalars(
            select(Order).where(Order.position_id == position, Order.role == OrderRole.EXIT)
        ).all()
        assert lines[0] == (
            f"position {position}: exit order {exit_order.id} sent for {held} (acknowledged as "
            f"{exit_order.broker_order_id})"
        )
        assert exit_order.reduce_only is True
        assert (exit_order.side.value, exit_order.order_type.value) == ("SELL", "MKT")
        assert exit_order.quantity == Decimal(before["entry"]["filled_quantity"])
        protection = [session.get_one(Order, before[role]["id"]) for role in ("stop", "target")]
        assert {order.state for order in protection} == {OrderState.CANCELLED}
        cancelled_at = max(
            session.scalars(
                select(OrderEvent.id).where(
                    OrderEvent.order_id.in_([o.id for o in protection]),
                    OrderEvent.to_state == OrderState.CANCELLED,
                )
            )
        )
        exit_created = min(session.scalars(select(OrderEvent.id).where(OrderEvent.order_id == exit_order.id)))
        assert cancelled_at < exit_created  # protection gone first, then the exit
        audit = session.scalars(select(AuditLog).where(AuditLog.action == "position.close")).one()
        assert (audit.actor, audit.target_id, audit.detail) == ("carol", str(position), "take it off")
    assert (
        lines[1] == "the exit fills at market; `ibflow orders --state working` and `ibflow trades` follow it"
    )
    exits = [item for item in _json(day, "orders", "--strategy", "aapl-swing") if item["role"] == "exit"]
    assert [(item["side"], item["quantity"], item["order_type"]) for item in exits] == [("SELL", held, "MKT")]


def test_position_close_by_id_and_bad_references(day: Day) -> None:
    position = day.book.positions["amzn-trend"]
    result = day.invoke("position", "close", str(position))
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"position {position}: exit order ")
    with day.session() as session:
        audit = session.scalars(select(AuditLog).where(AuditLog.action == "position.close")).one()
        assert (audit.actor, audit.target_id) == ("cli", str(position))

    _one_line_error(day.invoke("position", "close", "nope"), "no open position or strategy 'nope'")
    _one_line_error(day.invoke("position", "close", "999"), "'999'")
    _one_line_error(day.invoke("position", "close", "meta-watch"), "'meta-watch' holds no open position")


def test_executions_of_one_strategy(day: Day) -> None:
    items = _json(day, "executions", "--strategy", "meta-watch")
    executions = day.book.executions
    assert [item["id"] for item in items] == sorted(
        (executions[label] for label in ("hold", "no_signal", "sell", "failed")), reverse=True
    )
    rows = _rows(day.read("executions", "--strategy", "meta-watch"))
    assert [row[0] for row in rows if row[1:2] == ["meta-watch"]] == [str(item["id"]) for item in items]
    assert "tsla-breakout" not in day.read("executions", "--strategy", "meta-watch")
    _one_line_error(day.invoke("executions", "--strategy", "nope"), "'nope'")


def _ibflow_process(day: Day, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("ibflow")), *args],
        env={**os.environ, **day.env, "COLUMNS": "40"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_ibflow_command_in_a_narrow_terminal_prints_parseable_json_and_one_line_errors(day: Day) -> None:
    done = _ibflow_process(day, "status", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["trading"]["reason"] == KILL_SWITCH_REASON  # not cut at 40 columns

    for args, message in (
        (("show", "999"), "error: execution 999 does not exist (see `ibflow executions`)"),
        (("order", "cancel", "999"), "error: order 999 does not exist (see `ibflow orders`)"),
        (
            ("position", "close", "nope"),
            "error: no open position or strategy 'nope' (see `ibflow positions`)",
        ),
    ):
        done = _ibflow_process(day, *args)
        assert done.returncode == 2, done.stderr
        assert done.stdout == ""
        assert done.stderr.strip().splitlines() == [message]  # one line, even wider than the terminal
