"""The LLM analyst's own overhead per call, and a cache hit, against the loopback OpenAI-compatible server.

Targets (issue 13): the analyze step's own overhead per call (the step's time minus the test server's answer
time) under 20 ms, and an analyze step answered from the response cache under 5 ms. Each timed execution
runs the 11 steps of an ``openai`` strategy through the real ``openai`` SDK over HTTP to the test server of
``tests/llm_servers.py``, which answers HOLD at once; the analyze step is timed around the step function
itself. A cache miss (the clock one minute on, so a new prompt) alternates with its replay (the clock set
back to the same time, same bars, same PNG bytes), which the cache answers without a call.
"""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.integration.llm.conftest import llm_settings, wire_llm
from tests.llm_servers import LlmServer
from tests.workflow_support import Rig, add_strategy, make_rig

import ibflow.workflow.executor as executor_module
from benchmarks import summary
from ibflow.core.clock import ManualClock
from ibflow.core.ids import StrategyId
from ibflow.db import migrate
from ibflow.db.engine import make_engine, session_factory
from ibflow.db.locks import NamedLocks
from ibflow.db.states import ExecutionStatus
from ibflow.workflow.engine import Step, StepContext, StepResult
from ibflow.workflow.steps.data import RunState

TIMED = 30
WARMUP = 2
START = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)


class _TimedAnalyst:
    """The real LLM analyst, its ``analyze`` timed: the cache-hit path without the step's shared work."""

    def __init__(self, inner: Any, samples: list[float]) -> None:
        self._inner, self._samples = inner, samples

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def analyze(self, request: Any) -> Any:
        began = time.perf_counter()
        try:
            return self._inner.analyze(request)
        finally:
            self._samples.append((time.perf_counter() - began) * 1000)


@contextmanager
def _timed_analyze(samples: list[float]) -> Iterator[None]:
    """Run the executor with its analyze step wrapped in a timer (the other steps untouched)."""
    original = executor_module.STEPS

    def wrap(step: Step[RunState]) -> Step[RunState]:
        def timed(ctx: StepContext[RunState]) -> StepResult:
            began = time.perf_counter()
            try:
                return step.run(ctx)
            finally:
                samples.append((time.perf_counter() - began) * 1000)

        return dataclasses.replace(step, run=timed) if step.name == "analyze" else step

    executor_module.STEPS = tuple(wrap(step) for step in original)
    try:
        yield
    finally:
        executor_module.STEPS = original


def _execute(rig: Rig, strategy_id: int, samples: list[float]) -> float:
    """Run one execution; return its analyze step's milliseconds."""
    with _timed_analyze(samples):
        report = rig.executor.run(rig.executor.create_manual(StrategyId(strategy_id)))
    assert report.status is ExecutionStatus.SUCCEEDED, report.summary
    return samples[-1]


def run() -> dict[str, object]:
    """Time TIMED cache misses (one provider call each) and their TIMED replays (cache hits)."""
    server = LlmServer()
    server.start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{folder}/bench.db"
            migrate.upgrade(url)
            engine = make_engine(url)
            sessions = session_factory(engine)
            clock = ManualClock(START)
            rig = make_rig(sessions, clock, Path(folder) / "charts", NamedLocks(engine))
            rig = wire_llm(rig, server, llm_settings(llm_cache="on"))
            analyst_ms: list[float] = []
            rig.analysts["openai"] = _TimedAnalyst(rig.analysts["openai"], analyst_ms)
            strategy_id = add_strategy(rig, name="bench-openai", analyst="openai")
            totals, answers, hits = _measure(rig, server, strategy_id)
            engine.dispose()
    finally:
        server.stop()
    analyst_hits = analyst_ms[1::2][WARMUP:]  # each miss is followed by its hit
    return _result(totals, answers, hits, analyst_hits)


def _measure(rig: Rig, server: LlmServer, strategy_id: int) -> tuple[list[float], list[float], list[float]]:
    samples: list[float] = []
    totals: list[float] = []
    answers: list[float] = []
    hits: list[float] = []
    for index in range(WARMUP + TIMED):
        rig.clock.advance(timedelta(minutes=1))
        at = rig.clock.now()
        calls_before = len(server.requests)
        miss = _execute(rig, strategy_id, samples)
        assert len(server.requests) == calls_before + 1, "a new minute is a new prompt: one call"
        answer = server.answer_seconds[-1] * 1000
        rig.clock.set(at)
        hit = _execute(rig, strategy_id, samples)
        assert len(server.requests) == calls_before + 1, "the replay must be answered from the cache"
        if index >= WARMUP:
            totals.append(miss)
            answers.append(answer)
            hits.append(hit)
    return totals, answers, hits


def _result(
    totals: list[float], answers: list[float], hits: list[float], analyst_hits: list[float]
) -> dict[str, object]:
    overhead = [total - answer for total, answer in zip(totals, answers, strict=True)]
    median_overhead = statistics.median(overhead)
    median_hit = statistics.median(hits)
    return {
        "name": "llm",
        "title": "The LLM analyze step: own overhead per provider call, and a cache hit",
        "setup": (
            "SQLite file database; an `openai` strategy (single mode, 3 indicators, daily and weekly "
            "charts) calling the loopback OpenAI-compatible test server through the real `openai` SDK, "
            f"which answers HOLD at once; {TIMED} cache misses, each followed by its replay at the same "
            f"clock time (a cache hit), after {WARMUP} warm-up pairs; the analyze step timed around the "
            "step function; the server's answer time measured inside its handler"
        ),
        "cases": {
            "analyze step, one provider call": summary(totals),
            "server answer time": summary(answers),
            "own overhead per call (step - server)": summary(overhead),
            "analyze step, cache hit": summary(hits),
            "  of which the LLM analyst's call (cache lookup, llm_calls row)": summary(analyst_hits),
        },
        "ratio": {
            "median own overhead per call ms": round(median_overhead, 1),
            "median cache hit ms": round(median_hit, 1),
            "median LLM analyst call on a cache hit ms": round(statistics.median(analyst_hits), 1),
        },
        "target": "own overhead per call < 20 ms and a cache hit < 5 ms",
        "passed": median_overhead < 20 and median_hit < 5,
    }
