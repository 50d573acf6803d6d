"""``/metrics`` after a few executions on the paper broker, scraped through the API and parsed.

The counters of a process without a metrics folder live in memory for the whole test session, so each test
compares a scrape before its runs with one after; the state gauges are read from this test's database.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.metrics_support import total
from tests.workflow_support import MarketableBuy

from ibflow import bootstrap
from ibflow.api.app import create_app
from ibflow.core.clock import ManualClock
from ibflow.core.ids import StrategyId
from ibflow.db.models import Fill, LlmCall, Order, StrategyExecution
from ibflow.db.models.positions import Position
from ibflow.db.states import ExecutionStatus, OrderRole, OrderState, PositionStatus, StrategyMode
from ibflow.workflow.lineage import STEP_NAMES
from ibflow.workflow.strategies.lookup import IndicatorInput, StrategyInput, create_strategy

pytestmark = pytest.mark.integration

RUNS = 3


@dataclass
class Desk:
    container: bootstrap.Container
    clock: ManualClock
    client: TestClient
    strategy_ids: list[int]

    def scrape(self, **headers: str) -> str:
        answer = self.client.get("/metrics", headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/plain")
        return answer.text

    def run_all(self) -> None:
        """One execution of each strategy, then the order tracking that applies the paper broker's fills."""
        executor = self.container.executor()
        track = [job for job in self.container.periodic_jobs() if job.name.startswith("track_orders")]
        for strategy_id in self.strategy_ids:
            executor.run(executor.create_manual(StrategyId(strategy_id)))
            self.clock.advance(timedelta(minutes=1))
            for job in track:
                job.run()

    def count(self, query: object) -> int:
        with self.container.read_sessions() as session:
            return int(session.scalar(query) or 0)  # type: ignore[call-overload]


@pytest.fixture
def desk(migrated_sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    monkeypatch.setenv("IBFLOW_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("IBFLOW_DATABASE_URL", migrated_sqlite_url)
    monkeypatch.delenv("IBFLOW_METRICS_DIR", raising=False)
    monkeypatch.setenv("IBFLOW_METRICS_TOKEN", "scrape-secret")
    clock = ManualClock(datetime(2026, 3, 4, 17, 0, tzinfo=UTC))
    container = bootstrap.build(clock=clock)
    container.analysts["buy"] = MarketableBuy
    ids = []
    with container.sessions() as session:
        for symbol in ("AAPL", "MSFT", "NVDA")[:RUNS]:
            strategy = create_strategy(
                session,
                data=StrategyInput(
                    name=f"buy-{symbol.lower()}",
                    symbol=symbol,
                    indicators=(IndicatorInput("sma", {"period": 20}),),
                    mode=StrategyMode.PAPER.value,
                ),
                contracts=container.contract_service(),
                clock=clock,
            )
            strategy.analyst = "buy"
            session.flush()
            ids.append(strategy.id)
        session.commit()
    with TestClient(create_app(container)) as client:
        yield Desk(container, clock, client, ids)
    container.engine.dispose()


BEARER = {"Authorization": "Bearer scrape-secret"}


def test_metrics_count_the_executions_steps_orders_and_fills_that_happened(desk: Desk) -> None:
    before = desk.scrape(**BEARER)
    desk.run_all()
    after = desk.scrape(**BEARER)

    def grew(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    succeeded = desk.count(
        select(func.count(StrategyExecution.id)).where(StrategyExecution.status == ExecutionStatus.SUCCEEDED)
    )
    assert succeeded == RUNS
    assert grew("ibflow_executions_total", status="succeeded") == RUNS
    ordered = desk.count(
        select(func.count(func.distinct(Order.execution_id))).where(Order.role == OrderRole.ENTRY)
    )
    assert ordered >= 2  # the last may be blocked by the exposure limit
    assert grew("ibflow_executions_total", status="succeeded", outcome="ordered") == ordered
    assert grew("ibflow_step_duration_seconds_count") == RUNS * len(STEP_NAMES)
    for step in STEP_NAMES:  # a blocked run skips placing orders
        assert grew("ibflow_step_duration_seconds_count", step=step) == RUNS, step
    assert grew("ibflow_step_duration_seconds_count", step="place_orders", status="succeeded") == ordered
    assert grew("ibflow_step_duration_seconds_sum") > 0

    fills = desk.count(select(func.count(Fill.id)))
    assert fills == ordered  # every entry was marketable
    assert grew("ibflow_fills_total") == fills
    assert grew("ibflow_fills_total", side="BUY", role="entry") == fills
    assert grew("ibflow_order_transitions_total", to="filled") == desk.count(
        select(func.count(Order.id)).where(Order.state == OrderState.FILLED)
    )
    assert grew("ibflow_llm_calls_total", provider="marketable-buy", result="ok") == desk.count(
        select(func.count(LlmCall.id))
    )
    assert grew("ibflow_events_total", kind="execution.finished") == RUNS

    # the gauges are this database's state, not deltas
    assert total(after, "ibflow_state_up") == 1
    assert total(after, "ibflow_open_positions") == desk.count(
        select(func.count(Position.id)).where(Position.status == PositionStatus.OPEN)
    )
    assert total(after, "ibflow_open_positions") == ordered
    for state in OrderState:
        in_db = desk.count(select(func.count(Order.id)).where(Order.state == state))
        assert total(after, "ibflow_orders", state=state.value) == in_db, state
    assert total(after, "ibflow_kill_switch", state="ACTIVE") == 1
    assert total(after, "ibflow_kill_switch", state="HALTED") == 0
    assert total(after, "ibflow_executions_in_progress", status="queued") == 0


def test_the_gauges_show_queued_executions_and_a_halted_kill_switch(desk: Desk) -> None:
    executor = desk.container.executor()
    for strategy_id in desk.strategy_ids[:2]:
        executor.create_manual(StrategyId(strategy_id))
    desk.container.halt_everything(actor="tests", reason="checking the gauge")

    text = desk.scrape(**BEARER)

    assert total(text, "ibflow_executions_in_progress", status="queued") == 2
    assert total(text, "ibflow_kill_switch", state="HALTED") == 1
    assert total(text, "ibflow_kill_switch", state="ACTIVE") == 0


def test_metrics_need_the_token_when_one_is_set(desk: Desk) -> None:
    assert desk.client.get("/metrics").status_code == 401
    assert desk.client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    answer = desk.client.get("/metrics", headers=BEARER)
    assert answer.status_code == 200
    assert "scrape-secret" not in answer.text
