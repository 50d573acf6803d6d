"""A large history for the web pages' benchmarks: 20 strategies, 50,000 executions with their 11 lineage rows
(550,000), a signal each, 5,000 orders with their events and fills, and a year of hourly portfolio snapshots.

``seed_large_history(container)`` fills a migrated database (bulk inserts, about a minute on SQLite); the
rows look like a real installation's after months of running: executions every few minutes spread over the
strategies, most signals HOLD, one order in ten executions, some failed steps with an error.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select

from ibflow import bootstrap
from ibflow.db.models import (
    Fill,
    Order,
    OrderEvent,
    PortfolioSnapshot,
    Strategy,
    StrategyExecution,
    TradingSignal,
    WorkflowLineage,
)
from ibflow.db.states import (
    ExecutionStatus,
    ExecutionTrigger,
    OrderOrigin,
    OrderRole,
    OrderSide,
    OrderState,
    OrderType,
    SignalAction,
    StepStatus,
    StrategyMode,
    TimeInForce,
)
from ibflow.workflow.lineage import STEP_NAMES
from ibflow.workflow.strategies.lookup import StrategyInput, create_strategy

STRATEGIES = 20
EXECUTIONS = 50_000
ORDERS = 5_000
SNAPSHOT_HOURS = 24 * 365
BATCH = 5_000


@dataclass(frozen=True)
class History:
    """What was seeded: ids a benchmark asks about."""

    strategy_ids: list[int]
    execution_ids: list[int]
    order_ids: list[int]


def seed_large_history(
    container: bootstrap.Container,
    *,
    strategies: int = STRATEGIES,
    executions: int = EXECUTIONS,
    orders: int = ORDERS,
    seed: int = 7,
) -> History:
    """Fill ``container``'s (migrated) database; return the seeded ids."""
    rng = random.Random(seed)
    now = container.clock.now()
    strategy_ids = _strategies(container, strategies)
    symbols = _symbols(container, strategy_ids)
    with container.sessions() as session:
        first = (session.scalar(select(StrategyExecution.id).order_by(StrategyExecution.id.desc())) or 0) + 1
        execution_rows = [_execution(n, executions, rng.choice(strategy_ids), now) for n in range(executions)]
        for start in range(0, executions, BATCH):
            session.execute(insert(StrategyExecution), execution_rows[start : start + BATCH])
        execution_ids = list(
            session.scalars(select(StrategyExecution.id).where(StrategyExecution.id >= first)).all()
        )
        by_id = dict(zip(execution_ids, execution_rows, strict=True))
        for start in range(0, len(execution_ids), BATCH // 10):
            chunk = execution_ids[start : start + BATCH // 10]
            session.execute(
                insert(WorkflowLineage), [row for e in chunk for row in _lineage(e, by_id[e], rng)]
            )
        signals = [_signal(e, by_id[e], rng) for e in execution_ids]
        for start in range(0, len(signals), BATCH):
            session.execute(insert(TradingSignal), signals[start : start + BATCH])
        order_rows = [
            _order(
                n, rng.choice(execution_ids), by_id, symbols, rng, container.settings.broker.paper_account_id
            )
            for n in range(orders)
        ]
        session.execute(insert(Order), order_rows)
        order_ids = list(
            session.scalars(select(Order.id).where(Order.client_order_id.like("history-%"))).all()
        )
        session.execute(
            insert(OrderEvent), [e for o, r in zip(order_ids, order_rows, strict=True) for e in _events(o, r)]
        )
        fills = [
            _fill(o, r) for o, r in zip(order_ids, order_rows, strict=True) if r["state"] == OrderState.FILLED
        ]
        session.execute(insert(Fill), fills)
        session.execute(
            insert(PortfolioSnapshot), _snapshots(now, container.settings.broker.paper_account_id, rng)
        )
        session.commit()
    return History(strategy_ids=strategy_ids, execution_ids=execution_ids, order_ids=order_ids)


def _strategies(container: bootstrap.Container, wanted: int) -> list[int]:
    with container.sessions() as session:
        ids = list(session.scalars(select(Strategy.id).order_by(Strategy.id)).all())
        taken = set(session.scalars(select(Strategy.symbol)).all())
        contracts = container.contract_service()
        broker: Any = container.broker_for(StrategyMode.PAPER).broker
        free = [i.symbol for i in broker.market.universe if i.symbol not in taken]
        for symbol in free[: max(wanted - len(ids), 0)]:
            data = StrategyInput(name=f"history-{symbol}", symbol=symbol, indicators=(), analyst="rules")
            ids.append(create_strategy(session, data=data, contracts=contracts, clock=container.clock).id)
        session.commit()
    return ids[:wanted]


def _symbols(container: bootstrap.Container, strategy_ids: list[int]) -> dict[int, tuple[str, int]]:
    with container.sessions() as session:
        rows = session.execute(
            select(Strategy.id, Strategy.symbol, Strategy.conid).where(Strategy.id.in_(strategy_ids))
        ).all()
    return {row.id: (row.symbol, row.conid) for row in rows}


def _execution(n: int, total: int, strategy_id: int, now: datetime) -> dict[str, Any]:
    at = now - timedelta(minutes=5 * (total - n))
    failed = n % 97 == 0
    return {
        "strategy_id": strategy_id,
        "trigger": ExecutionTrigger.MANUAL if n % 50 == 0 else ExecutionTrigger.SCHEDULE,
        "scheduled_for": at,
        "started_at": at,
        "finished_at": at + timedelta(seconds=2),
        "status": ExecutionStatus.FAILED if failed else ExecutionStatus.SUCCEEDED,
        "created_at": at,
        "summary": {"stop_reason": "error" if failed else "hold"},
    }


def _lineage(execution_id: int, execution: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
    failed = execution["status"] == ExecutionStatus.FAILED
    rows = []
    for index, name in enumerate(STEP_NAMES, start=1):
        broke = failed and index == 5
        skipped = failed and index > 5
        rows.append(
            {
                "execution_id": execution_id,
                "step_index": index,
                "step_name": name,
                "status": StepStatus.FAILED
                if broke
                else StepStatus.SKIPPED
                if skipped
                else StepStatus.SUCCEEDED,
                "input": {"symbol": "SPY", "bars": 400, "params": {"period": 20}},
                "output": None
                if broke or skipped
                else {"ok": True, "values": [round(rng.random(), 4) for _ in range(8)]},
                "error": "analyst timed out after 60 s" if broke else None,
                "started_at": execution["started_at"] + timedelta(milliseconds=150 * index),
                "duration_ms": rng.randint(1, 300),
            }
        )
    return rows


def _signal(execution_id: int, execution: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    action = rng.choices([SignalAction.HOLD, SignalAction.BUY, SignalAction.SELL], weights=[8, 1, 1])[0]
    return {
        "execution_id": execution_id,
        "strategy_id": execution["strategy_id"],
        "action": action,
        "confidence": Decimal("0.62"),
        "reasoning": "Price holds above the 20-day average; RSI 54 is neutral; no breakout yet.",
        "is_valid": action != SignalAction.HOLD,
        "outcome": "no_order" if action == SignalAction.HOLD else "open",
        "provider": "rules",
        "created_at": execution["finished_at"],
    }


def _order(  # noqa: PLR0917 - one row from its parts
    n: int,
    execution_id: int,
    executions: dict[int, dict[str, Any]],
    symbols: dict[int, tuple[str, int]],
    rng: random.Random,
    account_id: str,
) -> dict[str, Any]:
    execution = executions[execution_id]
    symbol, conid = symbols[execution["strategy_id"]]
    at = execution["finished_at"]
    filled = rng.random() < 0.6
    price = Decimal(rng.randint(5_000, 50_000)) / 100
    return {
        "client_order_id": f"history-{n}",
        "account_id": account_id,
        "strategy_id": execution["strategy_id"],
        "execution_id": execution_id,
        "role": OrderRole.ENTRY,
        "origin": OrderOrigin.IBFLOW,
        "conid": conid,
        "symbol": symbol,
        "side": OrderSide.BUY,
        "order_type": OrderType.LIMIT,
        "tif": TimeInForce.DAY,
        "quantity": Decimal(10),
        "limit_price": price,
        "state": OrderState.FILLED if filled else OrderState.CANCELLED,
        "filled_quantity": Decimal(10) if filled else Decimal(0),
        "avg_fill_price": price if filled else None,
        "send_attempts": 1,
        "reason": None if filled else "expired at the session's close",
        "created_at": at,
        "updated_at": at + timedelta(minutes=30),
        "submitted_at": at,
    }


def _events(order_id: int, order: dict[str, Any]) -> list[dict[str, Any]]:
    at = order["created_at"]
    return [
        {
            "order_id": order_id,
            "from_state": None,
            "to_state": OrderState.SUBMITTING,
            "reason": "",
            "created_at": at,
        },
        {
            "order_id": order_id,
            "from_state": OrderState.SUBMITTING,
            "to_state": OrderState.WORKING,
            "reason": "",
            "created_at": at,
        },
        {
            "order_id": order_id,
            "from_state": OrderState.WORKING,
            "to_state": order["state"],
            "reason": order["reason"] or "",
            "created_at": order["updated_at"],
        },
    ]


def _fill(order_id: int, order: dict[str, Any]) -> dict[str, Any]:
    return {
        "account_id": order["account_id"],
        "broker_exec_id": f"history-exec-{order_id}",
        "order_id": order_id,
        "conid": order["conid"],
        "side": order["side"],
        "quantity": order["quantity"],
        "price": order["avg_fill_price"],
        "commission": Decimal("1.00"),
        "filled_at": order["updated_at"],
        "created_at": order["updated_at"],
    }


def _snapshots(now: datetime, account_id: str, rng: random.Random) -> list[dict[str, Any]]:
    equity = Decimal(100_000)
    rows = []
    for hour in range(SNAPSHOT_HOURS, 0, -1):
        equity += Decimal(rng.randint(-300, 320))
        rows.append(
            {
                "account_id": account_id,
                "taken_at": now - timedelta(hours=hour),
                "cash": equity / 2,
                "equity": equity,
                "positions_value": equity / 2,
                "realized_pnl": equity - Decimal(100_000),
                "unrealized_pnl": Decimal(0),
                "positions": [],
            }
        )
    return rows
