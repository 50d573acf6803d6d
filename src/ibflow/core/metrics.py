"""The process's Prometheus instruments: counters and histograms of what happened here, and the exposition.

Counters and histograms count events of this process. With a metrics folder configured
(``IBFLOW_METRICS_DIR``) every process of a machine writes its values to files there (prometheus-client's
multiprocess mode, one file per process named ``host-pid``) and ``/metrics`` sums them, so the web process
shows the figures of the workers beside it; without one, each process keeps its own in memory. The state of
the installation (orders by state, open positions, the kill switch, queued executions) is not counted here
but read from the database at scrape time (``workflow.runtime.gauges``), so every machine says the same.

Lower layers call ``instruments()`` at the moment something happened; the objects are made once per mode,
so a call is a dictionary lookup and an addition.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, cast

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)
# No *_created series: the same text in memory as summed from the files.
disable_created_metrics()  # type: ignore[no-untyped-call]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STEP_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_ENV = "PROMETHEUS_MULTIPROC_DIR"


@dataclass(frozen=True)
class Instruments:
    """Every counter and histogram ibflow keeps (their names and labels are listed in docs/operations.md)."""

    registry: CollectorRegistry | None
    executions: Counter
    step_seconds: Histogram
    order_transitions: Counter
    fills: Counter
    llm_calls: Counter
    llm_tokens: Counter
    llm_cost: Counter
    broker_requests: Counter
    broker_errors: Counter
    reconcile_mismatches: Counter
    kill_switch_changes: Counter
    events: Counter


def _make(registry: CollectorRegistry | None) -> Instruments:
    def counter(name: str, doc: str, labels: Iterable[str]) -> Counter:
        return Counter(name, doc, list(labels), registry=registry)

    return Instruments(
        registry=registry,
        executions=counter(
            "ibflow_executions", "Executions ended, by status and what came of them.", ("status", "outcome")
        ),
        step_seconds=Histogram(
            "ibflow_step_duration_seconds",
            "Wall time of each workflow step (skipped steps count with 0).",
            ["step", "status"],
            buckets=STEP_BUCKETS_S,
            registry=registry,
        ),
        order_transitions=counter(
            "ibflow_order_transitions", "Order state changes, by the state entered.", ("to", "origin")
        ),
        fills=counter("ibflow_fills", "Fills recorded against orders.", ("side", "role")),
        llm_calls=counter(
            "ibflow_llm_calls", "LLM calls recorded, by result (ok, error, cached).", ("provider", "result")
        ),
        llm_tokens=counter("ibflow_llm_tokens", "LLM tokens used, input and output.", ("provider", "kind")),
        llm_cost=counter("ibflow_llm_cost_usd", "What the LLM calls cost, in USD.", ("provider",)),
        broker_requests=counter("ibflow_broker_requests", "Requests sent to the broker's API.", ("broker",)),
        broker_errors=counter(
            "ibflow_broker_errors",
            "Broker requests that failed, by kind (http_429 is the gateway's rate limit).",
            ("broker", "kind"),
        ),
        reconcile_mismatches=counter(
            "ibflow_reconcile_mismatches", "Position mismatches found by reconciliation.", ()
        ),
        kill_switch_changes=counter(
            "ibflow_kill_switch_changes", "Kill switch changes, by new state.", ("to",)
        ),
        events=counter("ibflow_events", "Domain events committed to the outbox, by kind.", ("kind",)),
    )


@dataclass
class _Mode:
    directory: Path | None
    instruments: Instruments


_LOCK = threading.Lock()
_CURRENT = _Mode(None, _make(CollectorRegistry(auto_describe=True)))  # changed in place by ``configure``


def process_identifier() -> str:
    """This process's name in the metrics folder: host and pid (containers on a shared folder are pid 1)."""
    return f"{socket.gethostname()}-{os.getpid()}"


def configure(directory: Path | None) -> None:
    """Keep this process's figures in memory (``None``) or in files under ``directory``; idempotent."""
    with _LOCK:
        if _CURRENT.directory == directory:
            return
        if directory is None:
            os.environ.pop(_ENV, None)
            values.ValueClass = values.MutexValue
            _CURRENT.directory, _CURRENT.instruments = None, _make(CollectorRegistry(auto_describe=True))
            return
        directory.mkdir(parents=True, exist_ok=True)
        os.environ[_ENV] = str(directory)  # the value class reads it when a child of a metric is made
        values.ValueClass = values.MultiProcessValue(process_identifier)  # type: ignore[no-untyped-call]
        _CURRENT.directory, _CURRENT.instruments = directory, _make(None)


class _Uncounted:
    """A metric that counts nothing (every instrument of ``counted_apart``)."""

    def labels(self, *values: str, **named: str) -> _Uncounted:
        return self

    def inc(self, amount: float = 1.0) -> None:
        return None

    def observe(self, amount: float) -> None:
        return None


_UNCOUNTED = Instruments(None, *(cast(Any, _Uncounted()) for _ in fields(Instruments)[1:]))
_APART = threading.local()


@contextmanager
def counted_apart() -> Iterator[None]:
    """Count nothing that this thread does (a backtest replayed inside a serving process, whose ``/metrics``
    must show only the installation's own work); other threads count as before."""
    before = getattr(_APART, "on", False)
    _APART.on = True
    try:
        yield
    finally:
        _APART.on = before


def instruments() -> Instruments:
    """The instruments of the mode this process is in (none that count, in a ``counted_apart`` thread)."""
    if getattr(_APART, "on", False):
        return _UNCOUNTED
    return _CURRENT.instruments


def directory() -> Path | None:
    """The metrics folder this process writes to, or ``None`` (figures in memory)."""
    return _CURRENT.directory


def clean(folder: Path) -> None:
    """Empty ``folder`` of the files of earlier processes (at the start of the only process using it)."""
    if folder.is_dir():
        for path in folder.glob("*.db"):
            path.unlink(missing_ok=True)
        shutil.rmtree(folder / "tmp", ignore_errors=True)


def process_ended() -> None:
    """Drop this process's live gauges from the folder when it exits (its counters stay, summed)."""
    folder = _CURRENT.directory
    if folder is not None:
        multiprocess.mark_process_dead(process_identifier(), str(folder))  # type: ignore[no-untyped-call]


def exposition(folder: Path | None, *extra: Collector) -> bytes:
    """The text format of this process's figures, or of every process writing to ``folder``, and ``extra``."""
    registry = CollectorRegistry(auto_describe=False)
    if folder is not None:
        multiprocess.MultiProcessCollector(registry, path=str(folder))  # type: ignore[no-untyped-call]
    else:
        own = _CURRENT.instruments.registry
        if own is not None:
            registry.register(_Delegate(own))
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry)


class _Delegate:
    """Collect another registry's metrics (a registry cannot be registered in another)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        return self._registry.collect()


@dataclass(frozen=True)
class Gauge:
    """One gauge of the installation's state, read at scrape time: its samples by label values."""

    name: str
    doc: str
    labels: tuple[str, ...]
    samples: dict[tuple[str, ...], float]


class GaugesCollector:
    """Collect the gauges ``read`` returns, every scrape (a read that fails is logged and says nothing)."""

    def __init__(self, read: Callable[[], Iterable[Gauge]]) -> None:
        self._read = read

    def collect(self) -> Iterable[Metric]:
        try:
            gauges = list(self._read())
        except Exception:
            log.exception("could not read the state gauges for /metrics")
            gauges = []
        up = GaugeMetricFamily("ibflow_state_up", "1 when the state gauges could be read from the database.")
        up.add_metric([], 1.0 if gauges else 0.0)
        yield up
        for gauge in gauges:
            family = GaugeMetricFamily(gauge.name, gauge.doc, labels=list(gauge.labels))
            for label_values, value in sorted(gauge.samples.items()):
                family.add_metric(list(label_values), value)
            yield family
