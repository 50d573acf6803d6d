"""Draw a backtest's charts ahead of its replay in a second process, so they cost the replay little.

A chart depends only on the bars as of its execution, the strategy's indicators and chart size, and (the
daily chart) the price levels of the strategy's open position. So while the replay runs execution ``i`` in
this process, one worker process (spawned, SIGINT ignored: Ctrl-C stops the replay, not it) draws the
charts of the next executions from the same daily bars the executor will read, cut at each decision time
(never a bar after it), with the same functions the ``render_charts`` step uses (``chart_inputs``,
``render_chart``). The levels of a future daily chart cannot be known ahead (they follow fills): the worker
draws it with the levels the last daily chart showed (a position's entry, stop and target stay put while
it is open) and that session's close as the last price.

The step asks ``ChartsAhead.render`` instead of ``render_chart``: it takes the worker's chart when its
fingerprint (``charts.fingerprint``: the sha256 of everything the renderer reads) equals that of the
chart asked for, so the bytes are exactly those ``render_chart`` would return; otherwise (levels changed,
the worker has not reached that session yet, or it failed) it draws the chart itself. A session the worker
has not started is taken from it, and the worker moves on ahead of the replay: the two processes share
the drawing. The step stores the chart and records its lineage as always.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Self

import pandas as pd
from sqlalchemy.orm import Session

from ibflow.brokers.base import BarData
from ibflow.charts.fingerprint import chart_fingerprint
from ibflow.charts.levels import PriceLevel
from ibflow.charts.render import ChartSpec, IndicatorSeries, render_chart
from ibflow.core.errors import NotFound
from ibflow.core.ids import Conid
from ibflow.db.models.strategies import Strategy
from ibflow.indicators.compute import IndicatorConfig, compute_all
from ibflow.marketdata.bars import DAILY, BarSeries, weekly_from_daily
from ibflow.workflow.steps.data import chart_inputs, lookback_days, strategy_indicators

AHEAD = 12
"""How many executions ahead of the replay the worker may draw."""

IN_FLIGHT = 2
"""Tasks handed to the worker at a time."""
GAP = 3
"""The worker starts no task of the next ``GAP - 1`` executions: the replay reaches them before it could
finish and would only wait; when it falls behind, it skips ahead and the replay draws those itself."""

WEEKLY_LEAD = 4
"""The worker draws weekly charts this many executions before the daily ones of the same execution: a
weekly chart is never drawn in vain, a daily one is when the levels change before the replay reaches it."""

Task = tuple[int, str]
"""An execution's index among the decision times and a timeframe."""
_Drawn = tuple[str, bytes, float]
"""A chart's fingerprint, its PNG bytes and the seconds the worker took to draw it."""


@dataclass(frozen=True)
class ChartPlan:
    """What the worker needs to draw every chart of a backtest: picklable, sent to it once."""

    conid: Conid
    symbol: str
    timeframes: tuple[str, ...]
    configs: tuple[IndicatorConfig, ...]
    size: tuple[int, int]
    lookback_days: int
    times: tuple[datetime, ...]
    bars: tuple[BarData, ...]
    """The symbol's daily bars from the first lookback to the last decision time, oldest first."""


@dataclass
class ChartsAheadStats:
    """Where the charts of a replay were drawn."""

    ahead: int = 0
    """Charts taken from the worker."""
    here: int = 0
    """Charts drawn by the replay itself: the worker had not started them, or drew other levels."""
    missed: int = 0
    """Of ``here``, those the worker had drawn with levels that turned out different."""
    waited: float = 0.0
    """Seconds the replay waited for a chart the worker was drawing."""
    drawn: int = 0
    """Charts the worker drew (some were drawn again by the replay, with other levels)."""
    busy: float = 0.0
    """Seconds the worker spent drawing."""


@dataclass
class _Slot:
    state: str = "free"  # free, running, done, taken
    marks: tuple[PriceLevel, ...] = ()
    result: tuple[str, bytes] | None = None


def chart_plan(
    session: Session,
    strategy_id: int,
    *,
    times: Sequence[datetime],
    size: tuple[int, int],
    bars: Callable[[Conid, datetime, datetime], list[BarData]],
) -> ChartPlan:
    """Return the plan of the strategy's charts at ``times`` (oldest first); ``bars(conid, start, end)``
    returns the daily bars begun in ``[start, end)`` (the market's, as the broker serves them)."""
    strategy = session.get(Strategy, strategy_id)
    if strategy is None:
        raise NotFound(f"strategy {strategy_id} does not exist")
    indicators = strategy_indicators(session, strategy_id)
    configs = [IndicatorConfig(i.name, i.type, dict(i.params)) for i in indicators]
    timeframes = tuple(tf for tf in strategy.timeframes if tf in {"1d", "1w"})
    days = lookback_days(list(strategy.timeframes))
    conid = Conid(strategy.conid)
    ordered = tuple(sorted(times))
    held = bars(conid, ordered[0] - timedelta(days=days), ordered[-1]) if ordered else []
    return ChartPlan(conid, strategy.symbol, timeframes, tuple(configs), size, days, ordered, tuple(held))


class ChartsAhead:
    """A worker process drawing a plan's charts ahead of the replay; ``render`` is a ``ChartRenderer``.

    Use it as a context manager: entering starts the worker (it warms up while the backtest's database is
    made), ``begin`` hands it the plan, leaving stops it. Before ``begin``, ``render`` draws every chart.
    """

    def __init__(self, *, ahead: int = AHEAD) -> None:
        self._ahead = ahead
        self._plan: ChartPlan | None = None
        self._index: dict[datetime, int] = {}
        self._tasks: list[Task] = []
        self._slots: dict[Task, _Slot] = {}
        self._marks: tuple[PriceLevel, ...] = ()
        self._at = -1  # the execution the replay is drawing
        self._closed = False
        self._condition = threading.Condition()
        self._pool: ProcessPoolExecutor | None = None
        self._warm: Future[bool] | None = None
        self._feeder: threading.Thread | None = None
        self.stats = ChartsAheadStats()

    def __enter__(self) -> Self:
        self._pool = ProcessPoolExecutor(1, multiprocessing.get_context("spawn"), initializer=_start_worker)
        self._warm = self._pool.submit(_warm_up)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        if self._feeder is not None:
            self._feeder.join()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def begin(self, plan: ChartPlan) -> None:
        """Hand the worker ``plan``: from now on it draws the charts of the executions ahead of the replay."""
        if self._pool is None or self._feeder is not None:
            raise RuntimeError("ChartsAhead.begin needs a started worker, once")
        self._plan = plan
        self._index = {at: n for n, at in enumerate(plan.times)}
        tasks = [(n, tf) for n in range(len(plan.times)) for tf in plan.timeframes]
        self._tasks = sorted(tasks, key=lambda task: task[0] - (WEEKLY_LEAD if task[1] == "1w" else 0))
        self._slots = {task: _Slot() for task in self._tasks}
        loaded = self._pool.submit(_load, plan)
        self._feeder = threading.Thread(target=self._feed, args=(loaded,), name="charts-ahead", daemon=True)
        self._feeder.start()

    def render(
        self, as_of: datetime, bars: pd.DataFrame, indicators: IndicatorSeries, spec: ChartSpec
    ) -> bytes:
        """Return ``render_chart(bars, indicators, spec)``: the worker's chart when it drew exactly that."""
        wanted = chart_fingerprint(bars, indicators, spec)
        ready = self._take((self._index.get(as_of, -1), spec.timeframe), spec)
        if ready is not None and ready[0] == wanted:
            self.stats.ahead += 1
            return ready[1]
        self.stats.here += 1
        self.stats.missed += ready is not None
        return render_chart(bars, indicators, spec)

    def _take(self, task: Task, spec: ChartSpec) -> tuple[str, bytes] | None:
        """Return the worker's chart of ``task`` (waiting if it is drawing it), or take the task from it."""
        slot = self._slots.get(task)
        if slot is None:
            return None
        with self._condition:
            self._at = max(self._at, task[0])
            if spec.timeframe == "1d":
                self._expect(task[0], tuple(level for level in spec.levels if level.kind != "last"))
            self._condition.notify_all()
            if slot.state == "running":
                began = time.perf_counter()
                while slot.state == "running":
                    self._condition.wait()
                self.stats.waited += time.perf_counter() - began
            result = slot.result if slot.state == "done" else None
            slot.state, slot.result = "taken", None
            return result

    def _expect(self, index: int, marks: tuple[PriceLevel, ...]) -> None:
        """Draw the daily charts after ``index`` with ``marks`` from now on (caller holds the lock)."""
        if marks == self._marks:
            return
        self._marks = marks
        for number in range(index + 1, len(self._index)):
            slot = self._slots.get((number, "1d"))
            if slot is not None and slot.state == "done":
                slot.state, slot.result = "free", None

    def _next(self) -> Task | None:
        """The first free task from ``GAP`` executions ahead of the replay, up to ``ahead`` of it."""
        first, last = self._at + GAP, self._at + self._ahead
        free = (t for t in self._tasks if first <= t[0] <= last and self._slots[t].state == "free")
        return next(free, None)

    def _feed(self, loaded: Future[bool]) -> None:
        """Keep the worker drawing the next free tasks ahead of the replay (the feeder thread).

        Two tasks are in flight, so the worker starts the next one at once instead of waiting for this
        process's threads to hand over a result and a new task while the replay holds the GIL."""
        pool = self._pool
        if pool is None:
            return
        try:
            loaded.result()  # the worker is up and has the plan: from here on it only draws
        except Exception:  # no worker: the replay draws everything itself
            return
        running: dict[Future[_Drawn], tuple[Task, tuple[PriceLevel, ...]]] = {}
        while True:
            with self._condition:
                while not self._closed:
                    while len(running) < IN_FLIGHT and (task := self._next()) is not None:
                        marks = self._marks if task[1] == "1d" else ()
                        self._slots[task].state, self._slots[task].marks = "running", marks
                        running[pool.submit(_draw, task, marks)] = (task, marks)
                    if running:
                        break
                    self._condition.wait()
                if self._closed:
                    return
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                task, marks = running.pop(future)
                try:
                    digest, png, seconds = future.result()
                    result: tuple[str, bytes] | None = (digest, png)
                except Exception:  # a failed drawing is drawn again by the replay
                    result, seconds = None, 0.0
                self._store(task, marks, result, seconds)

    def _store(
        self, task: Task, marks: tuple[PriceLevel, ...], result: tuple[str, bytes] | None, seconds: float
    ) -> None:
        with self._condition:
            self.stats.drawn += 1
            self.stats.busy += seconds
            slot = self._slots[task]
            if slot.state == "running":
                stale = task[1] == "1d" and marks != self._marks and task[0] > self._at
                slot.state, slot.result = ("free", None) if stale else ("done", result)
            self._condition.notify_all()


_PLAN: ChartPlan | None = None


def _start_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the replay, which then stops the worker


def _warm_up() -> bool:
    """Draw a small chart once, so fonts and caches are loaded before the first real one."""
    days = pd.date_range("2000-01-03", periods=30, freq="D", tz="UTC", name="ts")
    bars = pd.DataFrame(dict.fromkeys(("open", "high", "low", "close", "volume"), 1.0), index=days)
    render_chart(bars, [], ChartSpec("WARM", "1d"))
    return True


def _load(plan: ChartPlan) -> bool:
    global _PLAN  # noqa: PLW0603 - the worker process's one plan
    _PLAN = plan
    return True


def _draw(task: Task, marks: tuple[PriceLevel, ...]) -> _Drawn:
    """In the worker: draw ``task``'s chart as the step would, with ``marks`` and the close as last price."""
    plan = _PLAN
    if plan is None:
        raise RuntimeError("the worker was started without a plan")
    began = time.perf_counter()
    index, timeframe = task
    daily = daily_series(plan, plan.times[index])
    series = daily if timeframe == "1d" else weekly_from_daily(daily)
    outputs = compute_all(series.frame, list(plan.configs)) if len(series) else {}
    levels = (*marks, PriceLevel("last", float(daily.bars[-1].close))) if marks and timeframe == "1d" else ()
    frame, sliced, spec = chart_inputs(
        series,
        outputs,
        list(plan.configs),
        timeframe=timeframe,
        symbol=plan.symbol,
        size=plan.size,
        levels=levels,
    )
    png = render_chart(frame, sliced, spec)
    return chart_fingerprint(frame, sliced, spec), png, time.perf_counter() - began


def daily_series(plan: ChartPlan, as_of: datetime) -> BarSeries:
    """Return the daily bars an execution at ``as_of`` reads: begun in ``[as_of - lookback, as_of)``."""
    start = as_of - timedelta(days=plan.lookback_days)
    bars = tuple(bar for bar in plan.bars if start <= bar.ts < as_of)
    return BarSeries(plan.conid, DAILY, as_of, bars, bool(bars) and bars[-1].partial)
