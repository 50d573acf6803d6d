"""Symbols, the indicator catalogue, chart images, run-time settings, the audit log and the broker session."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select
from tests.integration.api.conftest import Api, problem

from ibflow.core.ids import StrategyId
from ibflow.db.models import Strategy
from ibflow.db.models.executions import Chart
from ibflow.indicators.catalogue import CATALOGUE

pytestmark = pytest.mark.integration


def test_symbol_search_and_details_answer_the_contract_with_its_tick(api: Api) -> None:
    viewer = api.bearer("viewer")
    client = api.fresh()
    found = client.get("/api/v1/symbols", params={"q": "aapl"}, headers=viewer).json()
    apple = next(c for c in found if c["symbol"] == "AAPL")
    assert apple["currency"] == "USD"
    assert apple["min_tick"] == "0.01"
    assert client.get(f"/api/v1/symbols/{apple['conid']}", headers=viewer).json() == apple
    assert problem(client.get("/api/v1/symbols", params={"q": ""}, headers=viewer))["status"] == 422
    assert problem(client.get("/api/v1/symbols/987654", headers=viewer))["status"] == 404


def test_the_indicator_catalogue_lists_every_type_with_ranges(api: Api) -> None:
    listed = api.fresh().get("/api/v1/indicators", headers=api.bearer("viewer")).json()
    assert [item["type"] for item in listed] == list(CATALOGUE)
    rsi = next(item for item in listed if item["type"] == "rsi")
    period = next(p for p in rsi["params"] if p["name"] == "period")
    spec = next(p for p in CATALOGUE["rsi"].params if p.name == "period")
    assert (period["default"], period["minimum"], period["maximum"]) == (
        spec.default,
        spec.minimum,
        spec.maximum,
    )
    assert period["allowed"] == spec.range_text()


def test_a_chart_is_served_by_its_id_as_png(api: Api) -> None:
    with api.container.read_sessions() as session:
        strategy_id = session.scalars(select(Strategy.id).where(Strategy.name == "demo-spy-bands")).one()
    executor = api.container.executor()
    executor.run(executor.create_manual(StrategyId(strategy_id)))
    with api.container.read_sessions() as session:
        chart = session.scalars(select(Chart).order_by(Chart.id)).first()
    assert chart is not None
    answer = api.fresh().get(f"/api/v1/charts/{chart.id}.png", headers=api.bearer("viewer"))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/png"
    assert answer.content.startswith(b"\x89PNG")
    assert len(answer.content) == chart.size_bytes
    missing = api.fresh().get("/api/v1/charts/987654.png", headers=api.bearer("viewer"))
    assert problem(missing)["status"] == 404


def test_settings_read_for_viewers_written_by_admins_and_audited(api: Api) -> None:
    client = api.fresh()
    shown = client.get("/api/v1/settings", headers=api.bearer("viewer")).json()
    assert shown["max_open_positions"]["value"] == 5
    assert shown["max_open_positions"]["accepts"] == "an integer from 0 to 50"
    assert shown["max_exposure_fraction"]["value"] == "0.5"  # exact, as text
    admin = api.bearer("owner")
    refused = client.put(
        "/api/v1/settings/max_open_positions", json={"value": 3}, headers=api.bearer("trader")
    )
    assert problem(refused)["status"] == 403
    changed = client.put("/api/v1/settings/max_open_positions", json={"value": 3}, headers=admin).json()
    assert changed["max_open_positions"]["value"] == 3
    too_high = client.put("/api/v1/settings/max_open_positions", json={"value": 500}, headers=admin)
    assert problem(too_high)["status"] == 422
    assert "0 to 50" in too_high.text
    unknown = client.put("/api/v1/settings/warp_speed", json={"value": 1}, headers=admin)
    assert problem(unknown)["status"] == 422
    audit = client.get("/api/v1/audit", params={"actor": "owner"}, headers=admin).json()
    assert audit[0]["action"].startswith("setting")
    assert (audit[0]["actor"], audit[0]["target_id"]) == ("owner", "max_open_positions")
    assert (audit[0]["before"], audit[0]["after"]) == (5, 3)
    assert problem(client.get("/api/v1/audit", headers=api.bearer("trader")))["status"] == 403
    assert changed["max_open_positions"]["changed"] is True
    assert changed["max_open_positions"]["default"] == 5


def test_an_admin_resets_a_setting_to_its_environment_default(api: Api) -> None:
    client, admin = api.fresh(), api.bearer("owner")
    client.put("/api/v1/settings/max_open_positions", json={"value": 2}, headers=admin)
    refused = client.delete("/api/v1/settings/max_open_positions", headers=api.bearer("trader"))
    assert problem(refused)["status"] == 403
    reset = client.delete("/api/v1/settings/max_open_positions", headers=admin).json()
    assert (reset["max_open_positions"]["value"], reset["max_open_positions"]["changed"]) == (5, False)
    shown = client.get("/api/v1/settings", headers=api.bearer("viewer")).json()
    assert shown["max_open_positions"]["value"] == 5
    audit = client.get("/api/v1/audit", params={"actor": "owner"}, headers=admin).json()
    assert (audit[0]["action"], audit[0]["before"], audit[0]["after"]) == ("setting.reset", 2, 5)
    unknown = client.delete("/api/v1/settings/warp_speed", headers=admin)
    assert problem(unknown)["status"] == 422


def test_the_broker_session_is_the_paper_accounts(api: Api) -> None:
    sessions = api.fresh().get("/api/v1/broker/session", headers=api.bearer("viewer")).json()
    assert [(s["broker"], s["account_id"], s["healthy"]) for s in sessions] == [("paper", "PAPER-1", True)]


def test_portfolio_summary_statistics_and_snapshots(api: Api) -> None:
    from ibflow.trading.portfolio.valuation import take_snapshot

    handle = api.container.accounts()[0]
    with api.container.sessions() as session:
        take_snapshot(session, broker=handle.broker, account_id=handle.account_id, clock=api.clock)
        session.commit()
    viewer = api.bearer("viewer")
    client = api.fresh()
    (account,) = client.get("/api/v1/portfolio/summary", headers=viewer).json()
    assert (account["account_id"], account["currency"]) == ("PAPER-1", "USD")
    assert Decimal(account["equity"]) == Decimal(100_000)  # the paper account's starting cash, nothing held
    stats = client.get("/api/v1/portfolio/statistics", headers=viewer).json()
    assert (stats["trades"], stats["win_rate"], stats["max_drawdown"]) == (0, None, "0")
    (snap,) = client.get("/api/v1/portfolio/snapshots", headers=viewer).json()
    assert snap["equity"] == account["equity"]
    backwards = client.get(
        "/api/v1/portfolio/statistics",
        params={"since": "2026-03-04T00:00:00Z", "until": "2026-03-01T00:00:00Z"},
        headers=viewer,
    )
    assert problem(backwards)["status"] == 422


def test_an_indicator_preview_gives_latest_values_and_a_short_series(api: Api) -> None:
    viewer = api.bearer("viewer")
    client = api.fresh()
    body = {"symbol": "aapl", "type": "sma", "params": {"period": 5}, "points": 10}
    preview = client.post("/api/v1/indicators/preview", json=body, headers=viewer).json()
    assert (preview["symbol"], preview["type"], preview["params"]) == ("AAPL", "sma", {"period": 5})
    assert len(preview["series"]) == 10
    closes = [Decimal(point["close"]) for point in preview["series"]]
    assert preview["series"][-1]["sma"] == pytest.approx(float(sum(closes[-5:]) / 5), abs=1e-4)
    assert preview["latest"]["sma"] == preview["series"][-1]["sma"]
    bad = client.post(
        "/api/v1/indicators/preview",
        json={"symbol": "AAPL", "type": "rsi", "params": {"period": 1}},
        headers=viewer,
    )
    assert problem(bad)["status"] == 422
    assert "period" in bad.text
    unknown = client.post(
        "/api/v1/indicators/preview", json={"symbol": "ZZZZQ", "type": "sma"}, headers=viewer
    )
    assert problem(unknown)["status"] == 404
