"""Step statistics over 100,000 executions (1.1 million lineage rows), on SQLite and on PostgreSQL.

The service behind ``GET /lineage/step/{step_name}/statistics``, for all strategies and one, all time and
``days=1``. Target (issue 12): under 200 ms each, p95 included. The reference is what the service did before
(pull every lineage row of the filter into Python and count there), timed on the same data in the same run.
PostgreSQL runs in a database of its own on 127.0.0.1:5432 (skipped, and said so, when it is unreachable).
"""

from __future__ import annotations

import random
import secrets
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from sqlalchemy import insert, select

from benchmarks import summary
from ibflow.brokers.paper.broker import PaperBroker
from ibflow.brokers.paper.market.prices import SimulatedMarket
from ibflow.core.clock import ManualClock
from ibflow.core.ids import StrategyId
from ibflow.db import migrate
from ibflow.db.engine import SessionFactory, make_engine, session_factory
from ibflow.db.models import StrategyExecution, WorkflowLineage
from ibflow.db.states import ExecutionStatus, ExecutionTrigger, StepStatus
from ibflow.marketdata.cache import InProcessTtlCache
from ibflow.marketdata.contracts import ContractService
from ibflow.workflow.lineage import STEP_NAMES, step_statistics
from ibflow.workflow.strategies.lookup import StrategyInput, create_strategy

EXECUTIONS = 100_000
STRATEGIES = 10
DAYS = 60
TIMED = 22  # two per step
REFERENCE_TIMED = 3
TARGET_MS = 200.0
NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def _seed(sessions: SessionFactory) -> int:
    """Fill the database; return the id of the strategy the one-strategy cases ask about."""
    clock = ManualClock(NOW)
    broker = PaperBroker(sessions, clock, SimulatedMarket(seed=1), starting_cash=Decimal(100_000))
    contracts = ContractService(broker, InProcessTtlCache(), clock)
    rng = random.Random(12)
    with sessions() as session:
        ids = []
        for symbol in [i.symbol for i in broker.market.universe][:STRATEGIES]:
            data = StrategyInput(name=f"bench-{symbol}", symbol=symbol, indicators=(), analyst="rules")
            ids.append(create_strategy(session, data=data, contracts=contracts, clock=clock).id)
        session.commit()
    chunk = 10_000
    for first in range(0, EXECUTIONS, chunk):
        starts = [NOW - timedelta(seconds=rng.uniform(0, DAYS * 86_400)) for _ in range(chunk)]
        rows = [
            {
                "strategy_id": ids[(first + n) % STRATEGIES],
                "trigger": ExecutionTrigger.SCHEDULE,
                "scheduled_for": at,
                "started_at": at,
                "status": ExecutionStatus.SUCCEEDED,
                "created_at": at,
            }
            for n, at in enumerate(starts)
        ]
        with sessions() as session:
            session.execute(insert(StrategyExecution), rows)
            made = session.scalars(
                select(StrategyExecution.id).order_by(StrategyExecution.id.desc()).limit(chunk)
            ).all()
            lineage = [
                _step(rng, execution_id, index, name, at)
                for execution_id, at in zip(sorted(made), starts, strict=True)
                for index, name in enumerate(STEP_NAMES, start=1)
            ]
            session.execute(insert(WorkflowLineage), lineage)
            session.commit()
    return ids[3]


def _step(rng: random.Random, execution_id: int, index: int, name: str, at: datetime) -> dict[str, Any]:
    roll = rng.random()
    status = StepStatus.FAILED if roll < 0.01 else StepStatus.SKIPPED if roll < 0.08 else StepStatus.SUCCEEDED
    return {
        "execution_id": execution_id,
        "step_index": index,
        "step_name": name,
        "status": status,
        "input": {"n": index},
        "output": {"ok": True},
        "error": f"BrokerError: timeout {rng.randint(1, 4)}" if status is StepStatus.FAILED else None,
        "started_at": at,
        "duration_ms": 0 if status is StepStatus.SKIPPED else int(rng.lognormvariate(3, 1)),
    }


def _reference(sessions: SessionFactory, strategy_id: int | None, days: int | None) -> int:
    """What the service did before: every row of the filter into Python, then counted per step."""
    query = select(
        WorkflowLineage.step_name, WorkflowLineage.status, WorkflowLineage.duration_ms, WorkflowLineage.error
    )
    if strategy_id is not None:
        query = query.join(StrategyExecution).where(StrategyExecution.strategy_id == strategy_id)
    if days is not None:
        query = query.where(WorkflowLineage.started_at >= NOW - timedelta(days=days))
    rows: dict[str, list[tuple[StepStatus, int, str | None]]] = {}
    with sessions() as session:
        for name, status, duration, error in session.execute(query):
            rows.setdefault(name, []).append((status, duration, error))
    for items in rows.values():
        durations = sorted(d for s, d, _ in items if s is not StepStatus.SKIPPED) or [0]
        statistics.fmean(durations)
        Counter(e for s, _, e in items if s is StepStatus.FAILED)
    return len(rows)


def _cases(sessions: SessionFactory, one: int) -> dict[str, Callable[[int], object]]:
    def sql(strategy_id: int | None, days: int | None) -> Callable[[int], object]:
        def call(iteration: int) -> object:
            with sessions() as session:
                step = STEP_NAMES[iteration % len(STEP_NAMES)]
                return step_statistics(
                    session,
                    now=NOW,
                    strategy_id=StrategyId(strategy_id) if strategy_id else None,
                    days=days,
                    step_names=(step,),
                )

        return call

    return {
        "all strategies, all time": sql(None, None),
        "all strategies, days=1": sql(None, 1),
        "one strategy, all time": sql(one, None),
        "one strategy, days=1": sql(one, 1),
    }


def _time(cases: dict[str, Callable[[int], object]], iterations: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for name, call in cases.items():
        call(-1)  # warm the page cache
        for iteration in range(iterations):
            start = time.perf_counter()
            call(iteration)
            samples[name].append((time.perf_counter() - start) * 1000)
    return samples


def _measure(label: str, url: str) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    migrate.upgrade(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    started = time.perf_counter()
    one = _seed(sessions)
    print(f"  {label}: seeded {EXECUTIONS} executions in {time.perf_counter() - started:.0f} s", flush=True)
    results: dict[str, dict[str, float]] = {}
    p95: dict[str, float] = {}
    for name, samples in _time(_cases(sessions, one), TIMED).items():
        results[f"{label}: {name} (one step, SQL)"] = summary(samples)
        p95[f"{label}: {name}"] = round(statistics.quantiles(samples, n=20)[-1], 1)
    reference = _time({"all": lambda _i: _reference(sessions, None, None)}, REFERENCE_TIMED)["all"]
    results[f"{label}: all strategies, all time (reference: rows into Python)"] = summary(reference)
    engine.dispose()
    return results, p95


def run() -> dict[str, object]:
    """Seed, then time each case on SQLite and (when reachable) PostgreSQL."""
    cases: dict[str, dict[str, float]] = {}
    p95: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        found, worst = _measure("SQLite", f"sqlite:///{folder}/stats.db")
        cases.update(found)
        p95.update(worst)
    name = f"ibflow_bench_stats_{secrets.token_hex(3)}"
    skipped = ""
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        skipped = f"; PostgreSQL skipped: {exc.__class__.__name__}"
    if not skipped:
        try:
            found, worst = _measure("PostgreSQL", f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
            cases.update(found)
            p95.update(worst)
        finally:
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    slowest = max(p95.values())
    return {
        "name": "step_statistics",
        "title": "Step statistics over 100,000 executions (1.1 million lineage rows)",
        "setup": (
            f"{EXECUTIONS} executions of {STRATEGIES} strategies over {DAYS} days, 11 lineage rows each"
            f" (1% failed, 7% skipped); each SQL case asks for one step, {TIMED} calls rotating over the"
            f" 11 steps{skipped}"
        ),
        "cases": cases,
        "ratio": {f"p95 ms, {case}": value for case, value in p95.items()},
        "target": f"each case under {TARGET_MS:.0f} ms, p95 included",
        "passed": slowest < TARGET_MS,
    }
