"""A backtest replayed in a serving process counts nothing in that process's /metrics; other threads do."""

from __future__ import annotations

import threading

from ibflow.core import metrics


def _executions(status: str) -> float:
    value = metrics.instruments().executions.labels(status, "apart-test")._value.get()
    return float(value)


def test_a_thread_counted_apart_adds_nothing_and_another_thread_still_counts() -> None:
    before = _executions("succeeded")

    def live_work() -> None:
        metrics.instruments().executions.labels("succeeded", "apart-test").inc()

    with metrics.counted_apart():
        metrics.instruments().executions.labels("succeeded", "apart-test").inc()
        metrics.instruments().step_seconds.labels("render_charts", "succeeded").observe(0.2)
        other = threading.Thread(target=live_work)
        other.start()
        other.join()
    assert _executions("succeeded") == before + 1  # the live thread's one, not the backtest's
