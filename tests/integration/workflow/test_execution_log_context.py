"""JSON records emitted during an execution name the execution, its strategy and the order they are about."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from tests.workflow_support import MarketableBuy, Rig, add_strategy, make_rig

from ibflow.core.clock import ManualClock
from ibflow.core.ids import StrategyId
from ibflow.db.engine import SessionFactory
from ibflow.db.locks import NamedLocks
from ibflow.db.models import Order, Strategy
from ibflow.db.states import ExecutionStatus

pytestmark = pytest.mark.integration


def test_records_of_an_execution_carry_its_id_its_strategy_and_each_orders_client_id(
    engine: Engine, sessions: SessionFactory, clock: ManualClock, tmp_path: Path, json_log: io.StringIO
) -> None:
    rig: Rig = make_rig(sessions, clock, tmp_path / "charts", NamedLocks(engine))
    rig.analysts["marketable"] = MarketableBuy()
    strategy_id = add_strategy(rig, name="aapl daily")
    with rig.sessions() as session:
        session.get_one(Strategy, strategy_id).analyst = "marketable"
        session.commit()
    logging.getLogger("ibflow.tests").info("outside any execution")

    execution_id = rig.executor.create_manual(StrategyId(strategy_id))
    report = rig.executor.run(execution_id)

    assert report.status is ExecutionStatus.SUCCEEDED
    records: list[dict[str, Any]] = [json.loads(line) for line in json_log.getvalue().splitlines()]
    outside = next(r for r in records if r["message"] == "outside any execution")
    assert "execution_id" not in outside
    steps = [r for r in records if r["logger"] == "ibflow.workflow.engine"]
    assert len(steps) == 11, [r["message"] for r in steps]
    for record in steps:
        assert (record["execution_id"], record["strategy_id"], record["strategy"]) == (
            execution_id,
            strategy_id,
            "aapl daily",
        )
    with rig.sessions() as session:
        client_ids = set(
            session.scalars(select(Order.client_order_id).where(Order.execution_id == execution_id))
        )
    transitions = [r for r in records if r["logger"] == "ibflow.trading.lifecycle.orders"]
    assert transitions, "no order transition was logged"
    assert {r["client_order_id"] for r in transitions} <= client_ids
    parent = next(c for c in client_ids if c.endswith("-entry"))
    assert any(r["client_order_id"] == parent and "-> submitting" in r["message"] for r in transitions)
    assert all(r["execution_id"] == execution_id for r in transitions)
