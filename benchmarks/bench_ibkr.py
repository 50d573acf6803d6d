"""The ``ibkr`` broker client's overhead per execution: one execution through the gateway simulator vs paper.

Target (issue 15): the client's overhead per execution (an execution of a live-mode strategy on the ``ibkr``
broker, minus the same execution of a paper-mode strategy on the paper broker directly) under 150 ms at p95.

One run holds both. The gateway simulator is served over real HTTP (uvicorn on loopback, in a thread of this
process) on its own SQLite database, rate limits off, its clock standing still (``time_scale`` 0) and moved
with ibflow's manual clock; ibflow has another SQLite database, ``IBFLOW_BROKER=ibkr`` settings and the
runtime setting ``live_trading_enabled``. A live strategy and a paper strategy on AAPL with the same
indicators and the same scripted analyst run at the same clock times, alternating which goes first, after
warm-up; each ``executor.run`` is timed. The analyst answers HOLD, so nothing piles up between executions
(an execution every few minutes on a strategy with no signal is the common case); a few pairs with a bracket
placement (a fresh strategy on each side each time) show the order path. An ASGI wrapper around the
simulator's app counts the requests of each execution and times them inside the server (the simulator's
own share); a bare ``POST /tickle`` times one round trip through the client's HTTP stack.
"""

from __future__ import annotations

import gc
import statistics
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import uvicorn
from sqlalchemy import select
from tests.workflow_support import ScriptedAnalyst
from uvicorn.config import Config

from benchmarks import free_port
from ibflow import bootstrap
from ibflow.brokers.ibkr.simulator.app import create_app
from ibflow.brokers.ibkr.simulator.config import SimulatorConfig
from ibflow.brokers.ibkr.simulator.gateway import GatewaySimulator
from ibflow.core.clock import ManualClock
from ibflow.core.ids import StrategyId
from ibflow.core.settings import BrokerSettings, ChartSettings, DatabaseSettings, RiskSettings
from ibflow.db import migrate
from ibflow.db.engine import make_engine, session_factory
from ibflow.db.models import Order, StrategyExecution, WorkflowLineage
from ibflow.db.states import ExecutionStatus, StrategyMode
from ibflow.llm.analyst import AnalystInput, AnalystOutput, AnalystUsage
from ibflow.llm.signals import parse_signal
from ibflow.trading.lifecycle.tracking import sync_orders
from ibflow.trading.risk.runtime_settings import set_setting
from ibflow.workflow.strategies.lookup import IndicatorInput, StrategyInput, create_strategy

START = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)  # a Tuesday in NYSE hours (the paper calendar is "always")
WARMUP = 3
HOLD_PAIRS = 40
BRACKET_PAIRS = 8
BARE_REQUESTS = 200
TARGET_P95_MS = 150.0
HOLD = '{"action": "HOLD", "reasoning": "bench"}'


def _p(samples: list[float], q: int) -> float:
    """The q-th percentile (1..99) of ``samples``."""
    return statistics.quantiles(sorted(samples), n=100, method="inclusive")[q - 1]


def _case(samples: list[float]) -> dict[str, float]:
    """Median, p10 / p90 (the result tables' columns) and p95 of milliseconds."""
    deciles = statistics.quantiles(sorted(samples), n=10, method="inclusive")
    return {
        "median_ms": round(statistics.median(samples), 3),
        "p10_ms": round(deciles[0], 3),
        "p90_ms": round(deciles[-1], 3),
        "p95_ms": round(_p(samples, 95), 3),
        "min_ms": round(min(samples), 3),
        "max_ms": round(max(samples), 3),
        "n": len(samples),
    }


class _WideBuy:
    """A marketable BUY, stop 20 % under and target 35 % over: a small position, brackets fit the limits."""

    name = "wide-buy"
    model = "scripted"

    def analyze(self, request: AnalystInput) -> AnalystOutput:
        """Return the BUY around the request's last price, parsed like any LLM reply."""
        entry = (request.last_price * Decimal("1.002")).quantize(Decimal("0.01"))
        stop = (entry * Decimal("0.80")).quantize(Decimal("0.01"))
        target = (entry * Decimal("1.35")).quantize(Decimal("0.01"))
        reply = (
            f'{{"action": "BUY", "confidence": 0.9, "entry": {entry}, "stop_loss": {stop},'
            f' "take_profit": {target}, "valid_for_minutes": 60}}'
        )
        return AnalystOutput(
            self.name, self.model, reply, parse_signal(reply, now=request.as_of), AnalystUsage()
        )


@dataclass
class _Tally:
    """What the simulator served: each ``/v1/api`` request's path and its time inside the server."""

    requests: list[tuple[str, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def mark(self) -> int:
        with self.lock:
            return len(self.requests)

    def since(self, mark: int) -> list[tuple[str, float]]:
        with self.lock:
            return self.requests[mark:]


class _Timed:
    """ASGI wrapper: times each ``/v1/api`` request from its arrival to its last body byte sent."""

    def __init__(self, app: Any, tally: _Tally) -> None:
        self.app, self.tally = app, tally

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/api"):
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            elapsed = (time.perf_counter() - began) * 1000
            with self.tally.lock:
                self.tally.requests.append((f"{scope['method']} {scope['path']}", elapsed))


class _Simulator:
    """The gateway simulator on a loopback port (as ``simulator.server.Running``, its app wrapped)."""

    def __init__(self, folder: Path, tally: _Tally) -> None:
        url = f"sqlite:///{folder / 'gateway.db'}"
        migrate.upgrade(url)
        self.engine = make_engine(url)
        config = SimulatorConfig(start=START, time_scale=0.0, rate_limits=False)
        self.sim = GatewaySimulator(config, session_factory(self.engine))
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}/v1/api"
        self.controls = httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        app = _Timed(create_app(self.sim), tally)
        self._server = uvicorn.Server(
            Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        )
        self._thread = threading.Thread(target=self._server.run, name="gateway-sim", daemon=True)

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the gateway simulator did not start")
            time.sleep(0.02)

    def advance(self, seconds: float) -> None:
        answer = self.controls.post("/sim/clock", json={"advance_seconds": seconds})
        assert answer.status_code == 200, answer.text

    def stop(self) -> None:
        self.controls.close()
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self.engine.dispose()


def _container(folder: Path, sim: _Simulator, clock: ManualClock) -> bootstrap.Container:
    """ibflow on its own database with ``IBFLOW_BROKER=ibkr`` (the settings the env vars would give)."""
    url = f"sqlite:///{folder / 'ibflow.db'}"
    migrate.upgrade(url)
    settings = bootstrap.Settings(
        database=DatabaseSettings(database_url=url, data_dir=folder / "var"),
        charts=ChartSettings(charts_dir=folder / "charts"),
        broker=BrokerSettings(
            broker="ibkr",
            ibkr_base_url=sim.base_url,
            ibkr_account_id=sim.sim.account_id,
            live_trading_allowed=True,
            ibkr_calendar="always",  # the simulator's market never closes
            ibkr_rate_limits=False,
        ),
        risk=RiskSettings(max_open_positions=2 * BRACKET_PAIRS + 2),  # every bracket pair is let through
    )
    container = bootstrap.build(settings, clock)
    container.analysts["hold"] = lambda: ScriptedAnalyst(HOLD)
    container.analysts["buy"] = _WideBuy
    with container.sessions() as session:
        set_setting(
            session,
            key="live_trading_enabled",
            value=True,
            actor="admin",
            at=clock.now(),
            env=container.settings.risk,
            broker_env=container.settings.broker,
        )
        session.commit()
    return container


def _strategy(container: bootstrap.Container, name: str, mode: StrategyMode, analyst: str) -> int:
    with container.sessions() as session:
        strategy = create_strategy(
            session,
            data=StrategyInput(
                name=name,
                symbol="AAPL",
                indicators=(IndicatorInput("sma", {"period": 20}), IndicatorInput("atr")),
                mode=mode.value,
            ),
            contracts=container.contract_service(),
            clock=container.clock,
        )
        strategy.analyst = analyst  # a scripted analyst: the broker is under test
        session.commit()
        return strategy.id


@dataclass
class _Sample:
    ms: float
    requests: list[tuple[str, float]]
    steps: dict[str, float]


def _execute(container: bootstrap.Container, tally: _Tally, strategy_id: int, orders: int) -> _Sample:
    """Run one execution (timed around ``executor.run``); check it did what the analyst said."""
    executor = container.executor()
    execution_id = executor.create_manual(StrategyId(strategy_id))
    gc.collect()  # garbage left by one side is not collected on the other's clock
    mark = tally.mark()
    began = time.perf_counter()
    executor.run(execution_id)
    ms = (time.perf_counter() - began) * 1000
    requests = tally.since(mark)
    with container.read_sessions() as session:
        execution = session.get_one(StrategyExecution, execution_id)
        assert execution.status is ExecutionStatus.SUCCEEDED, execution.error
        placed = session.scalars(select(Order).where(Order.execution_id == execution_id)).all()
        assert len(placed) == orders, f"{len(placed)} orders, expected {orders}: {execution.summary}"
        rows = session.scalars(select(WorkflowLineage).where(WorkflowLineage.execution_id == execution_id))
        steps = {row.step_name: float(row.duration_ms or 0) for row in rows}
    return _Sample(ms, requests, steps)


@dataclass
class _Sides:
    ibkr: list[_Sample] = field(default_factory=list)
    paper: list[_Sample] = field(default_factory=list)


def _pairs(
    container: bootstrap.Container,
    sim: _Simulator,
    tally: _Tally,
    *,
    pairs: int,
    strategies: Any,
    orders: int,
    warmup: int,
    settle: bool = False,
) -> _Sides:
    """Run ``warmup + pairs`` pairs at the same clock times, alternating which side goes first."""
    sides = _Sides()
    clock = container.clock
    assert isinstance(clock, ManualClock)
    for index in range(warmup + pairs):
        clock.advance(timedelta(minutes=1))
        sim.advance(60)
        live_id, paper_id = strategies(index)
        order = ("ibkr", "paper") if index % 2 == 0 else ("paper", "ibkr")
        for side in order:
            strategy_id = live_id if side == "ibkr" else paper_id
            sample = _execute(container, tally, strategy_id, orders)
            if index >= warmup:
                getattr(sides, side).append(sample)
        if settle:
            _sync(container, sim)
    return sides


def _sync(container: bootstrap.Container, sim: _Simulator) -> None:
    """Untimed: a simulated minute on, then both accounts' fills become ibflow's positions.

    Without it the next bracket is blocked (the broker holds shares ibflow has no position for yet).
    """
    clock = container.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(minutes=1))
    sim.advance(60)
    deps = container.deps
    for mode in (StrategyMode.LIVE, StrategyMode.PAPER):
        handle = container.broker_for(mode)
        sync_orders(
            deps.sessions, broker=handle.broker, locks=deps.locks, account_id=handle.account_id, clock=clock
        )


def _bare(sim: _Simulator, tally: _Tally) -> tuple[list[float], list[float]]:
    """Time BARE_REQUESTS ``POST /tickle`` through httpx2 (client round trip, server time)."""
    client = httpx2.Client(base_url=sim.base_url, timeout=10)
    round_trips, inside = [], []
    try:
        for n in range(BARE_REQUESTS + 10):
            mark = tally.mark()
            began = time.perf_counter()
            answer = client.post("/tickle")
            elapsed = (time.perf_counter() - began) * 1000
            assert answer.status_code == 200, answer.text
            if n >= 10:
                round_trips.append(elapsed)
                inside.append(sum(ms for _, ms in tally.since(mark)))
    finally:
        client.close()
    return round_trips, inside


def run() -> dict[str, object]:
    """Alternate HOLD executions (then bracket ones) on ``ibkr`` and on paper; time a bare request."""
    tally = _Tally()
    with tempfile.TemporaryDirectory() as folder:
        sim = _Simulator(Path(folder), tally)
        sim.start()
        container = _container(Path(folder), sim, ManualClock(START))
        try:
            live = _strategy(container, "bench-ibkr-hold", StrategyMode.LIVE, "hold")
            paper = _strategy(container, "bench-paper-hold", StrategyMode.PAPER, "hold")
            hold = _pairs(
                container,
                sim,
                tally,
                pairs=HOLD_PAIRS,
                strategies=lambda _: (live, paper),
                orders=0,
                warmup=WARMUP,
            )
            buys = [
                (
                    _strategy(container, f"bench-ibkr-buy-{n}", StrategyMode.LIVE, "buy"),
                    _strategy(container, f"bench-paper-buy-{n}", StrategyMode.PAPER, "buy"),
                )
                for n in range(BRACKET_PAIRS)
            ]
            bracket = _pairs(
                container,
                sim,
                tally,
                pairs=BRACKET_PAIRS,
                strategies=buys.__getitem__,
                orders=3,
                warmup=0,
                settle=True,
            )
            bare = _bare(sim, tally)
        finally:
            container.broker_for(StrategyMode.LIVE).broker.close()
            container.engine.dispose()
            sim.stop()
    return _result(hold, bracket, bare)


def _overheads(sides: _Sides) -> list[float]:
    return [a.ms - b.ms for a, b in zip(sides.ibkr, sides.paper, strict=True)]


def _step_differences(sides: _Sides) -> dict[str, float]:
    """Median ibkr minus paper milliseconds of each step (where the overhead lands)."""
    names = list(sides.ibkr[0].steps)
    return {
        name: round(
            statistics.median(
                a.steps.get(name, 0) - b.steps.get(name, 0)
                for a, b in zip(sides.ibkr, sides.paper, strict=True)
            ),
            1,
        )
        for name in names
    }


def _per_path(sides: _Sides) -> str:
    """The simulator's median time of each request path of the ibkr side's executions."""
    times: dict[str, list[float]] = {}
    for sample in sides.ibkr:
        for path, ms in sample.requests:
            times.setdefault(path, []).append(ms)
    return ", ".join(f"{path} {statistics.median(ms):.2f}" for path, ms in times.items())


def _result(hold: _Sides, bracket: _Sides, bare: tuple[list[float], list[float]]) -> dict[str, object]:
    overhead = _overheads(hold)
    bracket_overhead = _overheads(bracket)
    hold_requests = [len(s.requests) for s in hold.ibkr]
    bracket_requests = [len(s.requests) for s in bracket.ibkr]
    server = [sum(ms for _, ms in s.requests) for s in hold.ibkr]
    client_side = [o - s for o, s in zip(overhead, server, strict=True)]
    round_trips, inside = bare
    paths = Counter(path for path, _ in hold.ibkr[-1].requests)
    bracket_paths = Counter(path for path, _ in bracket.ibkr[-1].requests)
    p95 = _p(overhead, 95)
    steps = _step_differences(hold)
    top = sorted(steps.items(), key=lambda item: -abs(item[1]))[:3]
    bracket_top = sorted(_step_differences(bracket).items(), key=lambda item: -abs(item[1]))[:3]
    return {
        "name": "ibkr",
        "title": "The ibkr broker client's overhead per execution (gateway simulator over HTTP vs paper)",
        "setup": (
            "SQLite file databases (ibflow's and the simulator's own); the gateway simulator served by "
            "uvicorn on loopback in a thread of the same process, rate limits off, time_scale 0, its "
            "clock moved with ibflow's; a live-mode strategy on `ibkr` and a paper-mode strategy on the "
            "paper broker, AAPL with sma(20) and atr, daily and weekly charts, the same scripted analyst "
            f"at the same clock times, alternated; {HOLD_PAIRS} HOLD pairs after {WARMUP} warm-up pairs "
            f"(no order: nothing piles up), then {BRACKET_PAIRS} pairs placing one bracket each (a fresh "
            "strategy per side each time); wall time around `executor.run`; requests counted and timed "
            f"inside the simulator by an ASGI wrapper; a bare `POST /tickle` timed {BARE_REQUESTS} times"
        ),
        "cases": {
            "HOLD execution, ibkr": _case([s.ms for s in hold.ibkr]),
            "HOLD execution, paper": _case([s.ms for s in hold.paper]),
            "client overhead per HOLD execution (ibkr - paper)": _case(overhead),
            "  of which inside the simulator": _case(server),
            "  of which the client and the wire (overhead - simulator)": _case(client_side),
            "bracket execution, ibkr": _case([s.ms for s in bracket.ibkr]),
            "bracket execution, paper": _case([s.ms for s in bracket.paper]),
            "client overhead per bracket execution (ibkr - paper)": _case(bracket_overhead),
            "bare POST /tickle round trip (httpx2)": _case(round_trips),
            "  of which inside the simulator (tickle)": _case(inside),
        },
        "ratio": {
            "p50 / p95 client overhead per HOLD execution ms": (
                f"{statistics.median(overhead):.1f} / {p95:.1f}"
            ),
            "requests per HOLD execution (median, min-max)": (
                f"{statistics.median(hold_requests):g} ({min(hold_requests)}-{max(hold_requests)})"
            ),
            "requests of a HOLD execution": ", ".join(f"{p} x{n}" for p, n in paths.items()),
            "requests per bracket execution (median)": f"{statistics.median(bracket_requests):g}",
            "requests of a bracket execution": ", ".join(f"{p} x{n}" for p, n in bracket_paths.items()),
            "simulator's share of the HOLD overhead (median)": (
                f"{statistics.median(server) / max(statistics.median(overhead), 0.001):.0%}"
            ),
            "median step differences ibkr - paper ms, HOLD (largest; lineage whole ms)": ", ".join(
                f"{k} {v:+.1f}" for k, v in top
            ),
            "median simulator time per request ms (HOLD)": _per_path(hold),
            "median step differences ibkr - paper ms, bracket (largest)": ", ".join(
                f"{k} {v:+.1f}" for k, v in bracket_top
            ),
            "p50 / p95 client overhead per bracket execution ms": (
                f"{statistics.median(bracket_overhead):.1f} / {_p(bracket_overhead, 95):.1f}"
            ),
        },
        "target": f"client overhead per HOLD execution under {TARGET_P95_MS:.0f} ms at p95",
        "passed": p95 < TARGET_P95_MS,
    }
