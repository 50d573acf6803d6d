"""The API under an open-loop load: 50 requests a second for 30 s, over real HTTP (uvicorn on loopback).

``GET /lineage/execution/{id}`` (a random execution each time) and ``GET /orders``, first on a SQLite file
holding 10,000 executions (110,000 lineage rows) and 3,000 orders, then on one with a single execution and
no order, in the same run. Requests leave on a fixed schedule whatever the answers do (open loop), and each
latency is measured from the request's scheduled time, so a slow answer that delays the next ones shows.
Targets (issue 12): p99 under 100 ms and under 3x the empty database's p99, and no error.
"""

from __future__ import annotations

import random
import secrets
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
from sqlalchemy import insert, select

from benchmarks import free_port
from ibflow import bootstrap
from ibflow.api.server import ApiServer
from ibflow.core.clock import ManualClock
from ibflow.core.settings import ChartSettings, DatabaseSettings
from ibflow.db import migrate
from ibflow.db.models import Order, Strategy, StrategyExecution, WorkflowLineage
from ibflow.db.states import (
    ExecutionStatus,
    ExecutionTrigger,
    OrderOrigin,
    OrderRole,
    OrderSide,
    OrderState,
    OrderType,
    StepStatus,
    TimeInForce,
    UserRole,
)
from ibflow.users.service import create_user
from ibflow.users.tokens import create_token
from ibflow.workflow.lineage import STEP_NAMES
from ibflow.workflow.strategies.demo import seed_demo

RATE = 50
SECONDS = 30
EXECUTIONS = 10_000
ORDERS = 3_000
NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
P99_TARGET_MS = 100.0
RATIO_TARGET = 3.0


def demo_container(folder: Path) -> bootstrap.Container:
    """A migrated SQLite installation under ``folder`` with the demo seeded, on a manual clock at ``NOW``."""
    url = f"sqlite:///{folder / 'ibflow.db'}"
    migrate.upgrade(url)
    settings = bootstrap.Settings(
        database=DatabaseSettings(database_url=url, data_dir=folder),
        charts=ChartSettings(charts_dir=folder / "charts"),
    )
    container = bootstrap.build(settings, ManualClock(NOW))
    seed_demo(container.sessions, contracts=container.contract_service(), clock=container.clock)
    return container


def _seed(container: bootstrap.Container, executions: int, orders: int) -> list[int]:
    rng = random.Random(7)
    with container.sessions() as session:
        strategy_id = session.scalars(select(Strategy.id).order_by(Strategy.id)).first()
        rows = [
            {
                "strategy_id": strategy_id,
                "trigger": ExecutionTrigger.SCHEDULE,
                "scheduled_for": NOW - timedelta(minutes=5 * (executions - n)),
                "started_at": NOW - timedelta(minutes=5 * (executions - n)),
                "finished_at": NOW - timedelta(minutes=5 * (executions - n)) + timedelta(seconds=2),
                "status": ExecutionStatus.SUCCEEDED,
                "created_at": NOW - timedelta(minutes=5 * (executions - n)),
                "summary": {"stop_reason": "hold"},
            }
            for n in range(executions)
        ]
        session.execute(insert(StrategyExecution), rows)
        ids = list(session.scalars(select(StrategyExecution.id)).all())
        lineage = [
            {
                "execution_id": execution_id,
                "step_index": index,
                "step_name": name,
                "status": StepStatus.SUCCEEDED,
                "input": {"symbol": "SPY", "bars": 400, "params": {"period": 20}},
                "output": {"ok": True, "values": [round(rng.random(), 4) for _ in range(8)]},
                "started_at": NOW,
                "duration_ms": rng.randint(1, 60),
            }
            for execution_id in ids
            for index, name in enumerate(STEP_NAMES, start=1)
        ]
        session.execute(insert(WorkflowLineage), lineage)
        if orders:
            session.execute(insert(Order), [_order(n, strategy_id, rng.choice(ids)) for n in range(orders)])
        session.commit()
    return ids


def _order(n: int, strategy_id: int | None, execution_id: int) -> dict[str, Any]:
    at = NOW - timedelta(minutes=n)
    return {
        "client_order_id": f"bench-{n}",
        "account_id": "PAPER-1",
        "strategy_id": strategy_id,
        "execution_id": execution_id,
        "role": OrderRole.ENTRY,
        "origin": OrderOrigin.IBFLOW,
        "conid": 756733,
        "symbol": "SPY",
        "side": OrderSide.BUY,
        "order_type": OrderType.LIMIT,
        "tif": TimeInForce.DAY,
        "quantity": Decimal(10),
        "limit_price": Decimal("500.25"),
        "state": OrderState.FILLED if n % 3 else OrderState.CANCELLED,
        "filled_quantity": Decimal(10) if n % 3 else Decimal(0),
        "avg_fill_price": Decimal("500.20") if n % 3 else None,
        "send_attempts": 1,
        "created_at": at,
        "updated_at": at,
    }


def _load(base: str, token: str, paths: list[str]) -> dict[str, float]:
    """Send RATE requests a second for SECONDS on their schedule; return p50 / p99 ms and the errors."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    client = httpx2.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10)

    def one(path: str, scheduled: float) -> None:
        nonlocal errors
        try:
            ok = client.get(path).status_code == 200
        except httpx2.HTTPError:
            ok = False
        done = time.perf_counter()
        with lock:
            latencies.append((done - scheduled) * 1000)
            errors += 0 if ok else 1

    total = RATE * SECONDS
    with ThreadPoolExecutor(max_workers=32) as pool:
        for path in paths[:RATE]:  # warm-up, not measured
            client.get(path)
        start = time.perf_counter() + 0.1
        for n in range(total):
            scheduled = start + n / RATE
            pause = scheduled - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            pool.submit(one, paths[n % len(paths)], scheduled)
    client.close()
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(quantiles[98], 1),
        "errors": errors,
    }


def _serve_and_load(folder: Path, executions: int, orders: int) -> dict[str, dict[str, float]]:
    container = demo_container(folder)
    ids = _seed(container, executions, orders)
    with container.sessions() as session:
        user = create_user(
            session,
            username="bench",
            password=secrets.token_urlsafe(16),  # only its token is used
            role=UserRole.VIEWER,
            clock=container.clock,
        )
        token = create_token(session, user=user, name="load", clock=container.clock).token
        session.commit()
    server = ApiServer(container, host="127.0.0.1", port=free_port())
    server.start()
    rng = random.Random(3)
    try:
        lineage = [f"/api/v1/lineage/execution/{rng.choice(ids)}" for _ in range(RATE * SECONDS)]
        results = {
            "GET /lineage/execution/{id}": _load(server.url, token, lineage),
            "GET /orders": _load(server.url, token, ["/api/v1/orders"]),
        }
    finally:
        server.stop()
        container.engine.dispose()
    return results


def run() -> dict[str, object]:
    """Load the API on the full database, then on the empty one; compare the p99s."""
    with tempfile.TemporaryDirectory() as full, tempfile.TemporaryDirectory() as empty:
        loaded = _serve_and_load(Path(full), EXECUTIONS, ORDERS)
        bare = _serve_and_load(Path(empty), 1, 0)
    cases: dict[str, dict[str, float]] = {}
    ratios: dict[str, object] = {}
    passed = True
    for endpoint in loaded:
        full_case, empty_case = loaded[endpoint], bare[endpoint]
        for label, case in (("10,000 executions", full_case), ("empty", empty_case)):
            cases[f"{endpoint}, {label}"] = {**case, "n": RATE * SECONDS}
        ratio = full_case["p99_ms"] / max(empty_case["p99_ms"], 0.1)
        ratios[f"{endpoint}: p99 full / empty"] = round(ratio, 2)
        ratios[f"{endpoint}: errors (full, empty)"] = f"{full_case['errors']}, {empty_case['errors']}"
        passed = passed and full_case["p99_ms"] < P99_TARGET_MS and ratio < RATIO_TARGET
        passed = passed and full_case["errors"] == 0 and empty_case["errors"] == 0
    return {
        "name": "api_load",
        "title": "The API under an open-loop load of 50 requests a second for 30 s",
        "setup": (
            f"uvicorn on loopback, SQLite; {EXECUTIONS} executions (110,000 lineage rows) and {ORDERS}"
            " orders, then one execution and no order; latency from each request's scheduled time"
        ),
        "cases": cases,
        "ratio": ratios,
        "target": (
            f"p99 under {P99_TARGET_MS:.0f} ms and under {RATIO_TARGET:.0f}x the empty database's, no error"
        ),
        "passed": passed,
    }
