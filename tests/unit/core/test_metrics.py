"""The instruments and the exposition: in memory, summed from the files of several processes, and gauges."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.metrics_support import total

from ibflow.core import metrics
from ibflow.core.metrics import Gauge, GaugesCollector

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _in_memory_afterwards() -> Iterator[None]:
    yield
    metrics.configure(None)


def _count_in_a_process(folder: Path, executions: int) -> None:
    code = (
        "from pathlib import Path; from ibflow.core import metrics\n"
        f"metrics.configure(Path({str(folder)!r}))\n"
        f"for _ in range({executions}):\n"
        "    metrics.instruments().executions.labels('succeeded', 'ordered').inc()\n"
        "    metrics.instruments().step_seconds.labels('analyze', 'succeeded').observe(0.2)\n"
        "metrics.instruments().llm_cost.labels('openai').inc(0.25)\n"
        "metrics.process_ended()\n"
    )
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


def test_the_figures_of_two_processes_on_one_folder_add_up(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    _count_in_a_process(folder, 2)
    _count_in_a_process(folder, 3)

    text = metrics.exposition(folder).decode()

    assert total(text, "ibflow_executions_total", status="succeeded", outcome="ordered") == 5
    assert total(text, "ibflow_step_duration_seconds_count", step="analyze") == 5
    assert total(text, "ibflow_step_duration_seconds_bucket", step="analyze", le="0.25") == 5
    assert total(text, "ibflow_step_duration_seconds_bucket", step="analyze", le="0.1") == 0
    assert total(text, "ibflow_llm_cost_usd_total", provider="openai") == pytest.approx(0.5)
    assert len(list(folder.glob("counter_*.db"))) == 2  # one file per process, named host-pid


def test_without_a_folder_a_process_shows_its_own_figures() -> None:
    metrics.configure(None)
    before = total(metrics.exposition(None).decode(), "ibflow_fills_total", side="SELL", role="stop")
    metrics.instruments().fills.labels("SELL", "stop").inc()

    after = metrics.exposition(None).decode()

    assert total(after, "ibflow_fills_total", side="SELL", role="stop") == before + 1
    assert "ibflow_fills_created" not in after


def test_a_process_configured_with_a_folder_writes_there_and_cleaning_empties_it(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    metrics.configure(folder)
    metrics.instruments().broker_errors.labels("ibkr", "http_429").inc()
    assert total(metrics.exposition(folder).decode(), "ibflow_broker_errors_total", kind="http_429") == 1
    metrics.configure(None)

    metrics.clean(folder)

    assert list(folder.glob("*.db")) == []
    assert total(metrics.exposition(folder).decode(), "ibflow_broker_errors_total") == 0


def test_gauges_are_read_at_each_scrape() -> None:
    reads = iter([3.0, 5.0])

    def read() -> list[Gauge]:
        return [Gauge("ibflow_orders", "Orders.", ("state",), {("working",): next(reads), ("filled",): 1.0})]

    collector = GaugesCollector(read)
    first = metrics.exposition(None, collector).decode()
    second = metrics.exposition(None, collector).decode()

    assert total(first, "ibflow_orders", state="working") == 3
    assert total(second, "ibflow_orders", state="working") == 5
    assert total(second, "ibflow_state_up") == 1


def test_a_failed_read_of_the_gauges_says_so_and_the_counters_still_show(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken() -> list[Gauge]:
        raise ConnectionError("database away")

    text = metrics.exposition(None, GaugesCollector(broken)).decode()

    assert total(text, "ibflow_state_up") == 0
    assert "ibflow_orders" not in text
    assert "# TYPE ibflow_executions_total counter" in text
    assert "could not read the state gauges" in caplog.text
