"""Production runtime (issue 18): 200 strategies due at once on two Celery workers; the dispatcher tick.

(i) Two ``ibflow worker`` processes (threads pool, one thread each) and one ``ibflow beat`` on PostgreSQL (a
fresh database on the machine's server, ``IBFLOW_TEST_PG_URL``) and a private ``redis-server`` on a free
port, paper broker, rules analyst, daily and weekly charts. 200 strategies become due in the same minute;
timed from the moment they are due until the last execution finished, and checked: one execution each, 11
lineage rows each, none twice. The same run measures its CPU limit: after the workers stop, executions of
the same strategies run in this process and their ``render_charts`` step gives the seconds one core spends on
one execution's charts; charts per second one core renders, divided by charts per execution, times two cores,
is the most executions per second two workers could finish. Target: all 200 within 60 s and at least 50 % of
that limit. The same 200 then run again on two workers of two threads each, for comparison only: with the
rules analyst an execution is CPU work, and two threads of one process share its GIL (a thread back from a
database round trip waits for the other's switch interval), so more processes beat more threads; with an
LLM analyst, which waits on the network, threads pay.

(ii) ``dispatch_due`` on PostgreSQL with 10,000 active strategies of which 200 are due: median and p95 of
several ticks, the 200 re-armed (next slot due, last slot's executions ended) between ticks. Target < 50 ms.
"""

from __future__ import annotations

import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import func, insert, select, update

from benchmarks import REPO, free_port, summary
from ibflow.brokers.paper.market.universe import default_universe
from ibflow.core.clock import ManualClock
from ibflow.core.ids import StrategyId
from ibflow.db import migrate
from ibflow.db.engine import SessionFactory, make_engine, session_factory
from ibflow.db.models import Strategy, StrategyExecution, WorkerHeartbeat, WorkflowLineage
from ibflow.db.states import ExecutionStatus, StrategyMode, StrategyState
from ibflow.workflow.runtime.scheduler import dispatch_due

PG_ADMIN_URL = os.environ.get("IBFLOW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
STRATEGIES = 200
WORKERS, THREADS, COMPARED_THREADS = 2, 1, 2
CORES = 2
TARGET_SECONDS = 60.0
TARGET_FRACTION = 0.5
CHART_SAMPLES = 12
TICK_STRATEGIES, TICK_DUE, TICKS = 10_000, 200, 15
TARGET_TICK_MS = 50.0
REDIS = ("redis-server", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
RARE_CRON = "0 0 1 1 *"  # once a year: only the slot we make due runs during the benchmark


def _strategy_row(n: int, symbol: str, conid: int, now: datetime, next_run_at: datetime) -> dict[str, Any]:
    return {
        "name": f"bench-{n}",
        "conid": conid,
        "symbol": symbol,
        "timeframes": ["1d", "1w"],
        "cron": RARE_CRON,
        "timezone": "UTC",
        "mode": StrategyMode.PAPER,
        "state": StrategyState.ACTIVE,
        "analyst": "rules",
        "risk_per_trade": Decimal("0.01"),
        "max_position_value": Decimal(20000),
        "max_quantity": Decimal(500),
        "max_entries_per_day": 3,
        "min_reward_risk": Decimal("1.5"),
        "min_confidence": Decimal("0.55"),
        "max_entry_deviation": Decimal("0.03"),
        "next_run_at": next_run_at,
        "created_at": now,
        "updated_at": now,
    }


def _insert_strategies(sessions: SessionFactory, count: int, next_run_at: datetime) -> list[int]:
    universe = [(i.symbol, int(i.conid)) for i in default_universe()]
    now = datetime.now(UTC)
    rows = [_strategy_row(n, *universe[n % len(universe)], now, next_run_at) for n in range(count)]
    with sessions() as session:
        for start in range(0, len(rows), 2000):
            session.execute(insert(Strategy), rows[start : start + 2000])
        session.commit()
        return list(session.scalars(select(Strategy.id).order_by(Strategy.id)))


class _Database:
    """A fresh, migrated database on the machine's PostgreSQL, dropped afterwards."""

    def __init__(self) -> None:
        self.name = f"ibflow_bench_{secrets.token_hex(4)}"
        self.url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{self.name}"

    def _admin(self, statement: str) -> None:
        with psycopg.connect(PG_ADMIN_URL.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(statement)

    def __enter__(self) -> _Database:
        self._admin(f'CREATE DATABASE "{self.name}"')
        migrate.upgrade(self.url)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def _wait(what: str, ok: Any, timeout_s: float, poll_s: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ok():
            return
        time.sleep(poll_s)
    raise RuntimeError(f"{what} not within {timeout_s:g}s")


def _celery_run(folder: Path, threads: int, *, chart_cost: bool) -> dict[str, Any]:
    """Run 200 due strategies on two workers of ``threads`` threads; return the wall time, the checks and
    (``chart_cost``) the in-process chart cost."""
    redis_port = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    with _Database() as db:
        engine = make_engine(db.url)
        sessions = session_factory(engine)
        try:
            procs.append(
                subprocess.Popen(
                    [*REDIS, "--port", str(redis_port)],
                    cwd=folder,
                    stdout=subprocess.DEVNULL,
                )
            )
            env = {key: value for key, value in os.environ.items() if not key.startswith("IBFLOW_")}
            env.update(
                {
                    "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
                    "IBFLOW_RUNNER": "celery",
                    "IBFLOW_DATABASE_URL": db.url,
                    "IBFLOW_CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
                    "IBFLOW_DATA_DIR": str(folder / "var"),
                    "IBFLOW_DISPATCH_INTERVAL_SECONDS": "1",
                    "IBFLOW_PAPER_STARTING_CASH": "100000000",
                    "IBFLOW_MAX_OPEN_POSITIONS": "50",
                    "IBFLOW_MAX_EXPOSURE_FRACTION": "1",
                }
            )
            ids = _insert_strategies(sessions, STRATEGIES, datetime.now(UTC) + timedelta(days=300))
            ibflow = str(Path(sys.executable).parent / "ibflow")
            log = (folder / "processes.log").open("ab")
            for _ in range(WORKERS):
                procs.append(
                    subprocess.Popen(
                        [ibflow, "worker", "-c", str(threads)], cwd=folder, env=env, stdout=log, stderr=log
                    )
                )
            procs.append(subprocess.Popen([ibflow, "beat"], cwd=folder, env=env, stdout=log, stderr=log))

            def ready() -> bool:
                with sessions() as session:
                    return (session.scalar(select(func.count()).select_from(WorkerHeartbeat)) or 0) >= 3

            _wait("two workers and beat beating", ready, 90)
            time.sleep(3)  # Celery's consumers connect after the first heartbeat
            due = datetime.now(UTC)
            with sessions() as session:
                session.execute(update(Strategy).values(next_run_at=due))
                session.commit()
            began = time.monotonic()

            def finished() -> bool:
                with sessions() as session:
                    left = session.scalar(
                        select(func.count())
                        .select_from(StrategyExecution)
                        .where(StrategyExecution.finished_at.is_not(None))
                    )
                    return left == STRATEGIES

            _wait("all 200 executions finished", finished, 300, poll_s=0.05)
            polled_s = time.monotonic() - began
            with sessions() as session:
                executions = session.scalars(select(StrategyExecution)).all()
                last = max(e.finished_at for e in executions if e.finished_at is not None)
                lineage = dict(
                    session.execute(
                        select(WorkflowLineage.execution_id, func.count()).group_by(
                            WorkflowLineage.execution_id
                        )
                    ).all()
                )
                steps = session.execute(
                    select(WorkflowLineage.step_name, func.avg(WorkflowLineage.duration_ms))
                    .group_by(WorkflowLineage.step_name)
                    .order_by(func.avg(WorkflowLineage.duration_ms).desc())
                ).all()
            wall_s = (last - due).total_seconds()
            statuses = statistics.multimode([e.status.value for e in executions])
            per_strategy = [e.strategy_id for e in executions]
            once = len(per_strategy) == len(set(per_strategy)) == STRATEGIES and set(per_strategy) == set(ids)
            eleven = all(lineage.get(e.id) == 11 for e in executions)
            failed = sum(1 for e in executions if e.status is not ExecutionStatus.SUCCEEDED)
        finally:
            for proc in reversed(procs):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(20)
        chart_ms = _chart_cost(db.url, folder, ids[:CHART_SAMPLES]) if chart_cost else []
        engine.dispose()
    return {
        "wall_s": wall_s,
        "polled_s": polled_s,
        "once": once,
        "eleven": eleven,
        "failed": failed,
        "statuses": statuses,
        "chart_ms": chart_ms,
        "steps": {name: round(float(ms), 1) for name, ms in steps},
    }


def _chart_cost(url: str, folder: Path, strategy_ids: list[int]) -> list[float]:
    """``render_charts`` step times of runs of the same strategies, one at a time in this process."""
    from ibflow import bootstrap
    from ibflow.core.settings import BrokerSettings, ChartSettings, DatabaseSettings, RiskSettings

    settings = bootstrap.Settings(
        database=DatabaseSettings(database_url=url),
        broker=BrokerSettings(paper_starting_cash=Decimal(100_000_000)),
        charts=ChartSettings(charts_dir=folder / "charts-in-process"),
        risk=RiskSettings(max_open_positions=50, max_exposure_fraction=Decimal(1)),
    )
    container = bootstrap.build(settings)
    executor = container.executor()
    times = []
    for strategy_id in strategy_ids:
        execution_id = executor.create_manual(StrategyId(strategy_id))
        executor.run(execution_id)
        with container.sessions() as session:
            step = session.scalars(
                select(WorkflowLineage).where(
                    WorkflowLineage.execution_id == execution_id, WorkflowLineage.step_name == "render_charts"
                )
            ).one()
            times.append(float(step.duration_ms))
    container.engine.dispose()
    return times[1:]  # the first pays for imports and font caches


def _ticks() -> dict[str, Any]:
    """Time ``dispatch_due`` over 10,000 active strategies, 200 of them due, re-armed between ticks."""
    with _Database() as db:
        engine = make_engine(db.url)
        sessions = session_factory(engine)
        clock = ManualClock(datetime(2026, 3, 4, 17, 0, tzinfo=UTC))
        ids = _insert_strategies(sessions, TICK_STRATEGIES, clock.now() + timedelta(days=300))
        due_ids = ids[:: TICK_STRATEGIES // TICK_DUE][:TICK_DUE]
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
        samples = []
        queued = []
        for tick in range(TICKS + 2):
            clock.advance(timedelta(minutes=1))
            with sessions() as session:  # re-arm: the 200 due now, their last executions ended
                session.execute(
                    update(Strategy).where(Strategy.id.in_(due_ids)).values(next_run_at=clock.now())
                )
                session.execute(
                    update(StrategyExecution)
                    .where(StrategyExecution.status == ExecutionStatus.QUEUED)
                    .values(status=ExecutionStatus.SUCCEEDED, finished_at=clock.now())
                )
                session.commit()
            began = time.perf_counter()
            result = dispatch_due(sessions, clock=clock)
            elapsed = (time.perf_counter() - began) * 1000
            if tick >= 2:  # two warm-up ticks
                samples.append(elapsed)
                queued.append(len(result.queued))
        engine.dispose()
    return {"samples": samples, "queued": queued}


def _single(wall_s: float) -> dict[str, float]:
    """One measurement as a table row."""
    ms = round(wall_s * 1000, 1)
    return {"median_ms": ms, "min_ms": ms, "max_ms": ms, "p10_ms": ms, "p90_ms": ms, "n": 1}


def run() -> dict[str, object]:
    """Run both parts; return the table rows, the ratios and whether every target was met."""
    folder = Path(tempfile.mkdtemp(prefix="ibflow-bench-celery-"))
    compared_folder = Path(tempfile.mkdtemp(prefix="ibflow-bench-celery-"))
    try:
        celery = _celery_run(folder, THREADS, chart_cost=True)
        compared = _celery_run(compared_folder, COMPARED_THREADS, chart_cost=False)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(compared_folder, ignore_errors=True)
    ticks = _ticks()

    wall_s = celery["wall_s"]
    charts_per_execution = 2
    chart_ms = statistics.median(celery["chart_ms"])  # one execution's charts, one core
    charts_per_second_one_core = charts_per_execution * 1000 / chart_ms
    limit_per_s = charts_per_second_one_core / charts_per_execution * CORES
    achieved_per_s = STRATEGIES / wall_s
    fraction = achieved_per_s / limit_per_s
    tick_samples = ticks["samples"]
    tick_p95 = statistics.quantiles(tick_samples, n=20)[-1]
    tick_median = statistics.median(tick_samples)
    single = _single(wall_s)
    none_twice = all(run["once"] and run["eleven"] for run in (celery, compared))
    passed = (
        wall_s <= TARGET_SECONDS
        and fraction >= TARGET_FRACTION
        and none_twice
        and tick_median < TARGET_TICK_MS
        and tick_p95 < TARGET_TICK_MS
        and set(ticks["queued"]) == {TICK_DUE}
    )
    return {
        "name": "celery",
        "title": "Production runtime: 200 due strategies on two Celery workers; the dispatcher tick",
        "setup": (
            f"(i) {STRATEGIES} strategies (62 symbols, daily + weekly charts 1200x800, no indicators "
            "configured: the rules analyst votes on the close, paper broker) due at the same moment; "
            f"{WORKERS} `ibflow worker` processes x {THREADS} thread + 1 `ibflow beat` (dispatch every 1 s) "
            "on PostgreSQL (a fresh database on the machine's server) and a private redis-server; timed from "
            "the moment they became due to the last finished_at. CPU limit: median render_charts step of "
            f"{CHART_SAMPLES - 1} executions of the same strategies run in-process afterwards = one core's "
            f"time for one execution's charts; limit = charts/s one core / charts per execution x {CORES}. "
            f"(ii) dispatch_due on PostgreSQL, {TICK_STRATEGIES:,} active strategies of which {TICK_DUE} "
            f"due, {TICKS} ticks after 2 warm-up ticks, the {TICK_DUE} re-armed (next slot due, previous "
            f"executions ended) between ticks. Compared (not judged): the same 200 on {WORKERS} workers x "
            f"{COMPARED_THREADS} threads, a fresh database"
        ),
        "cases": {
            f"{STRATEGIES} executions, due to last finished": single,
            f"the same on {WORKERS} workers x {COMPARED_THREADS} threads (compared)": _single(
                compared["wall_s"]
            ),
            "render_charts of one execution (in-process)": summary(celery["chart_ms"]),
            f"dispatch tick ({TICK_DUE} due of {TICK_STRATEGIES:,})": summary(tick_samples),
        },
        "ratio": {
            "all 200 done in s": round(wall_s, 2),
            "executions/s achieved": round(achieved_per_s, 2),
            "charts/s one core renders": round(charts_per_second_one_core, 2),
            "charts per execution": charts_per_execution,
            "CPU limit executions/s (2 cores)": round(limit_per_s, 2),
            "fraction of the CPU limit": round(fraction, 3),
            "none twice (1 execution and 11 lineage rows per strategy)": none_twice,
            "executions not succeeded": celery["failed"],
            "dispatch tick median ms": round(tick_median, 2),
            "dispatch tick p95 ms": round(tick_p95, 2),
            "queued per tick": sorted(set(ticks["queued"])),
            "workers' mean step ms (wall)": celery["steps"],
            f"x {COMPARED_THREADS} threads: all 200 done in s": round(compared["wall_s"], 2),
            f"x {COMPARED_THREADS} threads: fraction of the CPU limit": round(
                STRATEGIES / compared["wall_s"] / limit_per_s, 3
            ),
            f"x {COMPARED_THREADS} threads: workers' mean step ms (wall, two threads share a GIL)": compared[
                "steps"
            ],
            "executions not succeeded (compared run)": compared["failed"],
        },
        "target": (
            f"all {STRATEGIES} within {TARGET_SECONDS:g} s, >= {TARGET_FRACTION:.0%} of the CPU limit, none "
            f"twice; dispatch tick median and p95 < {TARGET_TICK_MS:g} ms"
        ),
        "passed": passed,
    }
