"""ibflow's benchmarks: ``make bench`` (``python -m benchmarks [NAME]``) runs every ``bench_*.py`` module.

Each module exposes ``run() -> dict``; ``__main__`` prints a table and writes ``results/<name>.json`` and
``results/<name>.md``. Helpers shared by the modules live here: the real bars the tests also use, and
interleaved timing (the contenders alternate, so drift in the machine's load hits both alike).
"""

from __future__ import annotations

import gc
import socket
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
OHLCV = REPO / "tests" / "data" / "ohlcv"
RESULTS = Path(__file__).resolve().parent / "results"


def load_bars(symbol: str = "AAPL") -> pd.DataFrame:
    """Return a symbol's daily bars from ``tests/data/ohlcv`` as the frame indicators and charts read."""
    (path,) = sorted(OHLCV.glob(f"{symbol}-*.csv"))
    raw = pd.read_csv(path, parse_dates=["Date"])
    index = pd.DatetimeIndex(raw["Date"], name="ts").tz_localize("UTC")
    columns = {
        name.lower(): raw[name].to_numpy(dtype="float64")
        for name in ("Open", "High", "Low", "Close", "Volume")
    }
    return pd.DataFrame(columns, index=index)


def interleaved(
    cases: dict[str, Callable[[int], object]], iterations: int, warmup: int = 2, repeat: int = 1
) -> dict[str, list[float]]:
    """Time each case ``iterations`` times, alternating which goes first; return milliseconds per call.

    Case functions take the iteration number (so each can work on different data); ``repeat`` calls are
    timed together and averaged, for work too short for one timer reading.
    """
    names = list(cases)
    for step in range(warmup):
        for name in names:
            cases[name](-1 - step)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for iteration in range(iterations):
        order = names if iteration % 2 == 0 else names[::-1]
        for name in order:
            function = cases[name]
            gc.collect()  # garbage left by one contender is not collected on the other's clock
            start = time.perf_counter()
            for _ in range(repeat):
                function(iteration)
            samples[name].append((time.perf_counter() - start) * 1000 / repeat)
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    """Return the median, min, max and spread (p90 / p10) of timings in milliseconds."""
    ordered = sorted(samples)
    deciles = statistics.quantiles(ordered, n=10)
    return {
        "median_ms": round(statistics.median(ordered), 4),
        "min_ms": round(ordered[0], 4),
        "max_ms": round(ordered[-1], 4),
        "p10_ms": round(deciles[0], 4),
        "p90_ms": round(deciles[-1], 4),
        "n": len(ordered),
    }


def free_port() -> int:
    """Return a TCP port free on loopback now (a benchmark's server never collides with another run's)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
