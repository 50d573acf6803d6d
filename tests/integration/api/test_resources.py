"""The API's read and action routes over HTTP: what a user sees matches the database and `ibflow … --json`.

Orders and positions come from a demo strategy whose analyst always buys a little above the last price
(``MarketableBuy``): one run places the entry with its stop and target, and one order sync a minute later
fills it, so the strategy holds a position protected by a working stop and target. ``PatientBuy`` bids under
the market, so its entry stays working until cancelled.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.integration.api.conftest import PASSWORD, Api, problem
from tests.workflow_support import MarketableBuy
from typer.testing import CliRunner

from ibflow.cli import app as cli
from ibflow.core.ids import StrategyId
from ibflow.db.models import AuditLog, Order, Position, Strategy, StrategyExecution, TradingSignal
from ibflow.db.states import ExecutionStatus, OrderRole, OrderState, PositionStatus
from ibflow.llm.analyst import Analyst, AnalystInput, AnalystOutput
from ibflow.trading.lifecycle.tracking import sync_orders
from ibflow.workflow.strategies.demo import DEMO_STRATEGIES

pytestmark = pytest.mark.integration


def _v1(client: TestClient) -> TestClient:
    """The client with paths under /api/v1."""
    client.base_url = "http://testserver/api/v1"
    return client


def _as(api: Api, username: str) -> TestClient:
    """A new client calling /api/v1 with a bearer token of ``username``."""
    client = _v1(api.fresh())
    client.headers.update(api.bearer(username))
    return client


def _sid(api: Api, name: str) -> int:
    with api.container.read_sessions() as session:
        found: int = session.scalars(select(Strategy.id).where(Strategy.name == name)).one()
    return found


class PatientBuy(MarketableBuy):
    """Bids about 2 % under the last price: the entry stays working."""

    def analyze(self, request: AnalystInput) -> AnalystOutput:
        """Return MarketableBuy's BUY as if the last price were 2 % lower."""
        return super().analyze(replace(request, last_price=request.last_price * Decimal("0.98")))


def _buying(api: Api, name: str = "demo-spy-bands", analyst: Analyst | None = None) -> int:
    """Give the strategy a scripted buying analyst (MarketableBuy by default); return its id."""
    chosen = analyst or MarketableBuy()
    api.container.analysts[f"buy-{name}"] = lambda: chosen
    with api.container.sessions() as session:
        strategy = session.scalars(select(Strategy).where(Strategy.name == name)).one()
        strategy.analyst = f"buy-{name}"
        session.commit()
        return strategy.id


def _run(api: Api, strategy_id: int, times: int = 1) -> list[int]:
    executor = api.container.executor()
    ids = []
    for _ in range(times):
        execution_id = executor.create_manual(StrategyId(strategy_id))
        executor.run(execution_id)
        ids.append(int(execution_id))
        api.clock.advance(timedelta(minutes=5))
    return ids


def _sync(api: Api) -> None:
    """One order-tracking pass, as ``ibflow serve`` runs it: the broker's fills reach the database."""
    api.clock.advance(timedelta(minutes=1))
    deps, handle = api.container.deps, api.container.accounts()[0]
    sync_orders(
        deps.sessions, broker=handle.broker, locks=deps.locks, account_id=handle.account_id, clock=api.clock
    )


def _open_position(api: Api) -> tuple[int, Position, dict[OrderRole, Order]]:
    spy = _buying(api)
    _run(api, spy)
    _sync(api)
    with api.container.read_sessions() as session:
        position = session.scalars(select(Position).where(Position.status == PositionStatus.OPEN)).one()
        orders = {o.role: o for o in session.scalars(select(Order).where(Order.strategy_id == spy))}
    return spy, position, orders


def _cli_json(*args: str) -> Any:
    """What ``ibflow ARGS --json`` prints, on the same database (the fixture's environment)."""
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _bad_fields(answer: Any) -> list[str]:
    """The fields a 422 problem names."""
    body = problem(answer)
    assert body["status"] == 422, body
    return sorted(error["field"] for error in body["errors"])


def _status(answer: Any) -> int:
    """The status of a problem answer."""
    return int(problem(answer)["status"])


def test_status_positions_and_orders_show_the_filled_entry_and_its_protection(api: Api) -> None:
    spy, position, orders = _open_position(api)
    aapl = _sid(api, "demo-aapl-trend")
    viewer = _as(api, "viewer")

    held = viewer.get("/positions").json()
    assert held == _cli_json("positions")
    [row] = held
    assert (row["id"], row["strategy"], row["symbol"]) == (position.id, "demo-spy-bands", "SPY")
    assert (Decimal(row["quantity"]), Decimal(row["avg_cost"])) == (position.quantity, position.avg_cost)
    assert Decimal(row["stop"]) == orders[OrderRole.STOP].stop_price
    assert Decimal(row["target"]) == orders[OrderRole.TARGET].limit_price
    assert viewer.get("/positions", params={"strategy_id": spy}).json() == held
    assert viewer.get("/positions", params={"strategy_id": aapl}).json() == []

    status = viewer.get("/status").json()
    assert status["trading"]["state"] == "ACTIVE"
    assert [p["id"] for p in status["positions"]] == [position.id]
    assert sorted(o["role"] for o in status["working_orders"]) == ["stop", "target"]
    assert [a["account_id"] for a in status["accounts"]] == api.container.account_ids()

    every = viewer.get("/orders").json()
    assert every == _cli_json("orders")
    assert [o["id"] for o in every] == sorted((o.id for o in orders.values()), reverse=True)
    filled = viewer.get("/orders", params={"state": "filled"}).json()
    assert [(o["id"], o["state"]) for o in filled] == [(orders[OrderRole.ENTRY].id, "filled")]
    working = viewer.get("/orders", params={"working": "true"}).json()
    assert sorted(o["role"] for o in working) == ["stop", "target"]
    assert viewer.get("/orders", params={"strategy_id": aapl}).json() == []
    assert viewer.get("/orders", params={"limit": 1}).json() == every[:1]

    assert _bad_fields(viewer.get("/orders", params={"state": "lost"})) == ["query.state"]
    assert _bad_fields(viewer.get("/orders", params={"limit": 501})) == ["query.limit"]
    assert _bad_fields(viewer.get("/positions", params={"strategy_id": 0})) == ["query.strategy_id"]


def test_closing_a_position_cancels_its_protection_then_exits_reduce_only_and_a_trade_shows(
    api: Api,
) -> None:
    _, position, orders = _open_position(api)
    trader, opened = _as(api, "trader"), api.clock.now()
    refused = trader.post(f"/orders/{orders[OrderRole.STOP].id}/cancel")  # it protects the position
    assert _status(refused) == 409
    assert f"position close {position.id}" in problem(refused)["detail"]

    answer = trader.post(f"/positions/{position.id}/close", json={"reason": "news"})
    assert answer.status_code == 200, answer.text
    [line] = answer.json()["exits"]
    assert line.startswith(f"position {position.id}: exit order ")
    assert f"sent for {position.quantity.normalize():f}" in line
    with api.container.read_sessions() as session:
        rows = {o.role: o for o in session.scalars(select(Order).where(Order.position_id == position.id))}
        audit = session.scalars(select(AuditLog).where(AuditLog.action == "position.close")).one()
    assert (rows[OrderRole.STOP].state, rows[OrderRole.TARGET].state) == (OrderState.CANCELLED,) * 2
    exit_order = rows[OrderRole.EXIT]
    assert (exit_order.reduce_only, exit_order.side.value) == (True, "SELL")
    assert exit_order.quantity == position.quantity
    assert exit_order.id > max(rows[OrderRole.STOP].id, rows[OrderRole.TARGET].id)  # sent after the cancels
    assert (audit.actor, audit.target_id, audit.detail) == ("trader", str(position.id), "news")

    assert trader.get("/positions").json() == []
    trades = trader.get("/trades").json()
    assert trades == _cli_json("trades")
    [trade] = trades
    assert (trade["symbol"], trade["exit_reason"]) == ("SPY", "manual")
    assert Decimal(trade["quantity"]) == position.quantity
    assert trader.get("/trades", params={"since": opened.isoformat()}).json() == trades
    assert trader.get("/trades", params={"since": (opened + timedelta(hours=1)).isoformat()}).json() == []
    assert _bad_fields(trader.get("/trades", params={"since": "soon"})) == ["query.since"]

    assert _status(trader.post(f"/positions/{position.id}/close")) == 404  # not open any more
    assert _status(trader.post("/positions/987654/close")) == 404


def test_a_trader_cancels_a_working_entry_a_second_cancel_conflicts_and_a_fill_first_is_told(
    api: Api,
) -> None:
    spy = _buying(api, analyst=PatientBuy())
    nvda = _buying(api, "demo-nvda-bands")
    api.container.executor().run(api.container.executor().create_manual(StrategyId(spy)))
    _run(api, nvda)  # marketable: it fills on the broker's next look, the cancel's own
    with api.container.read_sessions() as session:
        rows = session.scalars(select(Order).where(Order.role == OrderRole.ENTRY))
        entries = {o.strategy_id: o for o in rows}
    patient, eager = entries[spy], entries[nvda]
    assert (patient.state, eager.state) == (OrderState.WORKING, OrderState.WORKING)
    browser = _v1(api.login("trader"))  # a cookie session: its writes carry the CSRF token

    raced = browser.post(f"/orders/{eager.id}/cancel").json()
    assert (raced["state"], raced["confirmed"]) == ("filled", True)
    assert raced["message"].endswith(f"({eager.client_order_id}) was filled before the cancel reached it")
    assert [p["strategy"] for p in browser.get("/positions").json()] == ["demo-nvda-bands"]

    answer = browser.post(f"/orders/{patient.id}/cancel", json={"reason": "changed my mind"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "order_id": patient.id,
        "confirmed": True,
        "state": "cancelled",
        "message": f"order {patient.id} ({patient.client_order_id}) cancelled",
    }
    cancelled = browser.get("/orders", params={"state": "cancelled"}).json()
    assert [o["id"] for o in cancelled if o["role"] == "entry"] == [patient.id]
    with api.container.read_sessions() as session:
        audit = session.scalars(select(AuditLog).where(AuditLog.target_id == str(patient.id))).one()
    assert (audit.action, audit.actor, audit.detail) == ("order.cancel", "trader", "changed my mind")

    again = browser.post(f"/orders/{patient.id}/cancel")
    assert _status(again) == 409
    assert problem(again)["detail"] == f"order {patient.id} is cancelled already; nothing to cancel"
    assert _status(browser.post("/orders/987654/cancel")) == 404
    assert _bad_fields(browser.post("/orders/0/cancel")) == ["path.order_id"]


def test_signals_and_executions_filter_by_action_strategy_and_status(api: Api) -> None:
    spy, aapl = _buying(api), _sid(api, "demo-aapl-trend")
    spy_runs = _run(api, spy, times=2)  # ordered, then blocked: one open entry per contract
    _run(api, aapl)
    viewer = _as(api, "viewer")
    with api.container.read_sessions() as session:
        signals = session.scalars(select(TradingSignal).order_by(TradingSignal.id.desc())).all()
        finished = select(StrategyExecution.id).where(StrategyExecution.status == ExecutionStatus.SUCCEEDED)
        succeeded = session.scalars(finished.order_by(StrategyExecution.id.desc())).all()

    every = viewer.get("/signals").json()
    assert every == _cli_json("signals")
    assert [(s["id"], s["action"]) for s in every] == [(s.id, s.action.value) for s in signals]
    buys = viewer.get("/signals", params={"action": "buy"}).json()
    assert [s["id"] for s in buys] == [s.id for s in signals if s.action.value == "BUY"]
    of_spy = viewer.get("/signals", params={"strategy_id": spy}).json()
    outcomes = [(spy_runs[1], "blocked"), (spy_runs[0], "ordered")]
    assert [(s["execution_id"], s["outcome"]) for s in of_spy] == outcomes
    assert _bad_fields(viewer.get("/signals", params={"action": "SHORT"})) == ["query.action"]

    runs = viewer.get("/executions", params={"strategy_id": spy}).json()
    assert runs == _cli_json("executions", "--strategy", str(spy))
    assert [(r["id"], r["outcome"]) for r in runs] == outcomes
    assert {r["strategy"] for r in runs} == {"demo-spy-bands"}
    assert [r["id"] for r in viewer.get("/executions", params={"status": "succeeded"}).json()] == succeeded
    assert viewer.get("/executions", params={"status": "queued"}).json() == []
    assert _bad_fields(viewer.get("/executions", params={"status": "done"})) == ["query.status"]


DOCUMENT: dict[str, Any] = {
    "name": "api-msft-mornings",
    "symbol": "MSFT",
    "schedule": {"cron": "30 10 * * 1-5", "timezone": "America/New_York", "market_hours_only": True},
    "risk": {"risk_per_trade": 0.005, "max_position_value": 12000},
    "indicators": [{"type": "sma", "params": {"period": 50}}],
}
BAD_DOCUMENT: dict[str, Any] = {
    "name": "api-bad",
    "symbol": "AAPL",
    "mode": "paperish",
    "schedule": {"cron": "61 * * * *", "timezone": "Mars/Olympus"},
    "risk": {"risk_per_trade": 0.9},
    "indicators": [{"type": "rsi", "params": {"period": 0}}],
}


def test_strategies_are_listed_read_created_and_updated_from_a_document(api: Api) -> None:
    trader, spy = _as(api, "trader"), _sid(api, "demo-spy-bands")
    listed = trader.get("/strategies").json()
    assert sorted(s["name"] for s in listed) == sorted(name for name, _, _ in DEMO_STRATEGIES)
    one = trader.get(f"/strategies/{spy}").json()
    assert (one["id"], one["file"]["name"], one["file"]["symbol"]) == (spy, "demo-spy-bands", "SPY")
    assert (one["schedule_text"], len(one["upcoming_runs"])) == ("Every 5 minutes", 5)
    missing = trader.get("/strategies/987654")
    assert (_status(missing), "id:" in problem(missing)["detail"]) == (404, False)  # no CLI reference syntax
    assert _bad_fields(trader.get("/strategies/0")) == ["path.strategy_id"]

    created = trader.post("/strategies", json=DOCUMENT)
    assert created.status_code == 201, created.text
    made = created.json()
    assert (made["state"], made["file"]["schedule"]) == ("active", DOCUMENT["schedule"])
    assert made["file"]["risk"]["risk_per_trade"] == "0.005"  # an exact decimal, as the document said
    assert made["schedule_text"] == "At 10:30 AM, Monday through Friday"
    assert {"field": "symbol", "old": "(none)", "new": "MSFT"} in made["changes"]
    with api.container.read_sessions() as session:
        row = session.get_one(Strategy, made["id"])
        assert (row.name, row.cron) == (DOCUMENT["name"], "30 10 * * 1-5")
        assert row.risk_per_trade == Decimal("0.005")
    assert made["id"] in [s["id"] for s in trader.get("/strategies").json()]
    assert _bad_fields(trader.post("/strategies", json=DOCUMENT)) == ["name"]  # the name is taken

    five = ["indicators[0].period", "mode", "risk.risk_per_trade", "schedule.cron", "schedule.timezone"]
    assert _bad_fields(trader.post("/strategies", json=BAD_DOCUMENT)) == five  # every bad field at once
    with api.container.read_sessions() as session:
        assert session.scalars(select(Strategy.id).where(Strategy.name == "api-bad")).first() is None

    changed = {**DOCUMENT, "schedule": {**DOCUMENT["schedule"], "cron": "45 11 * * 1-5"}}
    updated = trader.put(f"/strategies/{made['id']}", json=changed)
    assert updated.status_code == 200, updated.text
    change = {"field": "schedule.cron", "old": "30 10 * * 1-5", "new": "45 11 * * 1-5"}
    assert updated.json()["changes"] == [change]
    assert updated.json()["next_run_at"] == "2026-03-03T16:45:00+00:00"  # 11:45 in New York, today
    with api.container.read_sessions() as session:
        assert session.get_one(Strategy, made["id"]).cron == "45 11 * * 1-5"
    assert trader.put(f"/strategies/{made['id']}", json=changed).json()["changes"] == []
    other = {**changed, "name": "demo-spy-bands"}
    assert _bad_fields(trader.put(f"/strategies/{made['id']}", json=other)) == ["name"]
    assert _status(trader.put("/strategies/987654", json=changed)) == 404


def test_every_strategys_document_read_back_and_sent_as_it_is_changes_nothing(api: Api) -> None:
    trader = _as(api, "trader")
    for summary in trader.get("/strategies").json():
        document = trader.get(f"/strategies/{summary['id']}").json()["file"]
        answer = trader.put(f"/strategies/{summary['id']}", json=document)
        assert answer.status_code == 200, (summary["name"], answer.text)  # float params stay numbers
        assert answer.json()["changes"] == []


def test_pause_resume_and_archive_change_the_schedule_and_are_audited(api: Api) -> None:
    trader, spy = _as(api, "trader"), _sid(api, "demo-spy-bands")
    paused = trader.post(f"/strategies/{spy}/pause", json={"reason": "earnings"})
    assert paused.status_code == 200, paused.text
    assert (paused.json()["state"], paused.json()["next_run_at"]) == ("paused", None)
    with api.container.read_sessions() as session:
        audit = session.scalars(select(AuditLog).where(AuditLog.target_id == str(spy))).one()
    assert (audit.actor, audit.after["state"], "earnings" in audit.detail) == ("trader", "paused", True)

    api.clock.advance(timedelta(minutes=7))  # 15:07 UTC: the next 5-minute slot is 15:10
    resumed = trader.post(f"/strategies/{spy}/resume").json()
    assert (resumed["state"], resumed["next_run_at"]) == ("active", "2026-03-03T15:10:00+00:00")

    assert trader.post(f"/strategies/{spy}/archive").json()["state"] == "archived"
    assert spy not in [s["id"] for s in trader.get("/strategies").json()]
    everything = trader.get("/strategies", params={"include_archived": "true"}).json()
    assert {s["id"]: s["state"] for s in everything}[spy] == "archived"

    assert _status(trader.post("/strategies/987654/pause")) == 404
    assert _bad_fields(trader.post(f"/strategies/{spy}/pause", json={"why": "x"})) == ["why"]


def test_the_kill_switch_traders_halt_only_an_admin_loosens_it(api: Api) -> None:
    trader = _as(api, "trader")
    assert _as(api, "viewer").get("/trading").json()["state"] == "ACTIVE"
    halted = trader.post("/trading/halt", json={"reason": "news"})
    assert halted.status_code == 200, halted.text
    assert halted.json()["state"] == "HALTED"
    now = trader.get("/trading").json()
    assert (now["state"], now["reason"], now["changed_by"]) == ("HALTED", "news", "trader")

    assert _status(trader.post("/trading/reduce", json={"reason": "ease"})) == 403  # loosening: admins only
    assert _status(trader.post("/trading/resume", json={"reason": "over"})) == 403
    assert trader.get("/trading").json()["state"] == "HALTED"
    assert _bad_fields(trader.post("/trading/halt", json={})) == ["reason"]
    assert _bad_fields(trader.post("/trading/halt", json={"reason": ""})) == ["reason"]

    admin = _v1(api.login("owner"))
    reducing = admin.post("/trading/reduce", json={"reason": "ease in"})
    assert (reducing.status_code, reducing.json()["state"]) == (200, "REDUCING")
    active = admin.post("/trading/resume", json={"reason": "over"}).json()
    assert (active["state"], active["changed_by"]) == ("ACTIVE", "owner")
    with api.container.read_sessions() as session:
        moves = select(AuditLog.after).where(AuditLog.action == "trading.state_changed").order_by(AuditLog.id)
        assert session.scalars(moves).all() == ["HALTED", "REDUCING", "ACTIVE"]


def test_an_admin_manages_users_and_tokens_and_a_token_shows_only_once(api: Api) -> None:
    admin = _as(api, "owner")
    users = admin.get("/users").json()
    roles = {"admin": "admin", "owner": "admin", "trader": "trader", "viewer": "viewer"}
    assert {u["username"]: u["role"] for u in users} == roles
    assert not [key for user in users for key in user if "password" in key]

    made = admin.post("/users", json={"username": "ann", "password": PASSWORD, "role": "viewer"})
    assert made.status_code == 201, made.text
    assert (made.json()["username"], made.json()["role"], made.json()["is_active"]) == ("ann", "viewer", True)
    assert _v1(api.login("ann")).get("/auth/me").json()["role"] == "viewer"
    taken = admin.post("/users", json={"username": "trader", "password": "short", "role": "trader"})
    assert _bad_fields(taken) == ["password", "username"]
    boss = {"username": "bo", "password": PASSWORD, "role": "boss"}
    assert _bad_fields(admin.post("/users", json=boss)) == ["role"]

    assert admin.patch("/users/ann", json={"role": "trader"}).json()["role"] == "trader"
    assert _v1(api.login("ann")).get("/auth/me").json()["role"] == "trader"
    assert _status(admin.patch("/users/nobody", json={"role": "viewer"})) == 404
    assert _bad_fields(admin.patch("/users/ann", json={"role": "boss"})) == ["role"]

    created = admin.post("/tokens", json={"username": "ann", "name": "backtests"})
    assert created.status_code == 201, created.text
    token = created.json()
    secret = {"Authorization": f"Bearer {token['token']}"}
    assert admin.get("/auth/me", headers=secret).json()["username"] == "ann"
    listing = admin.get("/tokens")
    assert token["token"] not in listing.text
    [row] = [t for t in listing.json() if t["id"] == token["id"]]
    assert (row["username"], row["name"], "token" in row) == ("ann", "backtests", False)
    assert _status(admin.post("/tokens", json={"username": "nobody", "name": "x"})) == 404

    revoked = admin.delete(f"/tokens/{token['id']}")
    assert revoked.status_code == 200, revoked.text
    assert (revoked.json()["revoked_at"] is not None, token["token"] in revoked.text) == (True, False)
    assert _status(admin.get("/auth/me", headers=secret)) == 401
    assert _status(admin.delete("/tokens/987654")) == 404
