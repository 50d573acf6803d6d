"""Named indicator configs over HTTP: saved, listed, changed, deleted, audited, and copied by strategies."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from tests.integration.api.conftest import Api, problem
from tests.integration.api.test_resources import _as, _bad_fields, _status

from ibflow.db.models import AuditLog, Indicator, Strategy, StrategyIndicator

pytestmark = pytest.mark.integration


def _strategy_indicators(api: Api, name: str) -> list[tuple[str, str, dict[str, Any]]]:
    with api.container.read_sessions() as session:
        rows = session.execute(
            select(Indicator.name, Indicator.type, Indicator.params)
            .join(StrategyIndicator, StrategyIndicator.indicator_id == Indicator.id)
            .join(Strategy, Strategy.id == StrategyIndicator.strategy_id)
            .where(Strategy.name == name)
            .order_by(StrategyIndicator.position)
        ).all()
    return [(key, kind, dict(params)) for key, kind, params in rows]


def test_a_trader_saves_changes_and_deletes_a_named_config_and_each_change_is_audited(api: Api) -> None:
    trader, viewer = _as(api, "trader"), _as(api, "viewer")
    created = trader.post(
        "/indicators/configs", json={"name": "bands-tight", "type": "bbands", "params": {"width": 1.5}}
    )
    assert created.status_code == 201, created.text
    saved = created.json()
    assert (saved["name"], saved["type"], saved["created_by"]) == ("bands-tight", "bbands", "trader")
    assert saved["params"] == {"period": 20, "width": 1.5}  # completed with the catalogue's defaults
    assert viewer.get(f"/indicators/configs/{saved['id']}").json() == saved
    assert [c["name"] for c in viewer.get("/indicators/configs").json()] == ["bands-tight"]

    changed = trader.put(
        f"/indicators/configs/{saved['id']}",
        json={"name": "bands-tight", "type": "bbands", "params": {"period": 10, "width": 1.5}},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["params"] == {"period": 10, "width": 1.5}
    assert trader.delete(f"/indicators/configs/{saved['id']}").status_code == 204
    assert _status(viewer.get(f"/indicators/configs/{saved['id']}")) == 404
    assert _status(trader.delete(f"/indicators/configs/{saved['id']}")) == 404

    with api.container.read_sessions() as session:
        audit = session.scalars(
            select(AuditLog).where(AuditLog.target_type == "indicator_config").order_by(AuditLog.id)
        ).all()
    assert [(a.action, a.actor) for a in audit] == [
        ("indicator_config.create", "trader"),
        ("indicator_config.update", "trader"),
        ("indicator_config.delete", "trader"),
    ]
    assert (audit[1].before["params"], audit[1].after["params"]) == (
        {"period": 20, "width": "1.5"},  # the audit log keeps numbers as exact text
        {"period": 10, "width": "1.5"},
    )


def test_bad_configs_name_every_bad_field_and_a_taken_name_conflicts(api: Api) -> None:
    trader = _as(api, "trader")
    bad = {"name": "-no", "type": "macd", "params": {"fast": 30, "slow": 20, "colour": 1}}
    assert _bad_fields(trader.post("/indicators/configs", json=bad)) == [
        "name",
        "params.colour",
        "params.fast",
    ]
    unknown = trader.post("/indicators/configs", json={"name": "x", "type": "vwap"})
    assert _bad_fields(unknown) == ["type"]
    assert "known:" in problem(unknown)["errors"][0]["problem"]
    assert _bad_fields(trader.post("/indicators/configs", json={"name": "r", "type": "rsi", "extra": 1})) == [
        "extra"
    ]

    first = trader.post(
        "/indicators/configs", json={"name": "rsi-fast", "type": "rsi", "params": {"period": 7}}
    )
    other = trader.post(
        "/indicators/configs", json={"name": "rsi-slow", "type": "rsi", "params": {"period": 21}}
    )
    assert (first.status_code, other.status_code) == (201, 201)
    taken = trader.post("/indicators/configs", json={"name": "rsi-fast", "type": "sma"})
    assert (_status(taken), "rsi-fast" in problem(taken)["detail"]) == (409, True)
    renamed = trader.put(
        f"/indicators/configs/{other.json()['id']}", json={"name": "rsi-fast", "type": "rsi"}
    )
    assert _status(renamed) == 409
    assert [c["name"] for c in trader.get("/indicators/configs").json()] == ["rsi-fast", "rsi-slow"]
    assert _status(_as(api, "viewer").post("/indicators/configs", json={"name": "v", "type": "rsi"})) == 403


def test_a_strategy_copies_a_named_config_and_keeps_its_copy_when_the_config_changes(api: Api) -> None:
    trader = _as(api, "trader")
    saved = trader.post(
        "/indicators/configs", json={"name": "rsi-fast", "type": "rsi", "params": {"period": 7}}
    ).json()
    document: dict[str, Any] = {
        "name": "api-config-user",
        "symbol": "MSFT",
        "indicators": [
            {"config": "rsi-fast"},
            {"config": "rsi-fast", "name": "rsi_9", "params": {"period": 9}},
        ],
    }
    created = trader.post("/strategies", json=document)
    assert created.status_code == 201, created.text
    assert created.json()["file"]["indicators"] == [
        {"type": "rsi", "name": "rsi_7", "params": {"period": 7}},
        {"type": "rsi", "name": "rsi_9", "params": {"period": 9}},
    ]
    trader.put(
        f"/indicators/configs/{saved['id']}",
        json={"name": "rsi-fast", "type": "rsi", "params": {"period": 5}},
    )
    trader.delete(f"/indicators/configs/{saved['id']}")
    assert _strategy_indicators(api, "api-config-user") == [
        ("rsi_7", "rsi", {"period": 7}),
        ("rsi_9", "rsi", {"period": 9}),
    ]

    wrong = {
        "name": "api-config-bad",
        "symbol": "MSFT",
        "indicators": [{"config": "no-such"}, {"type": "rsi", "params": {"period": 0}}],
    }
    assert _bad_fields(trader.post("/strategies", json=wrong)) == [
        "indicators[0].config",
        "indicators[1].period",
    ]
    trader.post("/indicators/configs", json={"name": "sma-long", "type": "sma", "params": {"period": 200}})
    mismatch = {
        "name": "api-config-bad",
        "symbol": "MSFT",
        "indicators": [{"config": "sma-long", "type": "ema"}],
    }
    assert _bad_fields(trader.post("/strategies", json=mismatch)) == ["indicators[0].type"]
