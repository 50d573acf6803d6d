"""The price path maths: a pure function of (seed, symbol, time), in floats.

Per symbol, one seeded draw covers every day from ``EPOCH`` to ``LAST_DAY``: a chain of regimes (range, up
trend, down trend; about a month each) with a volatility level inside the symbol's band, and the log price
at each New York midnight. A range regime pulls the price back to where the regime began; a trend drifts at
1.5-3 times the regime's volatility a year; a weak pull towards the reference price keeps every symbol near
its reference level over the years. Inside a day, a Brownian bridge on a 1-minute grid joins the day's
open to its close with the day's volatility, drawn from its own seed (seed, symbol, day). Between grid
points the price is linear, so it is continuous in time and the extremes over any interval are exact from
the grid. Seeds come from BLAKE2b, never from Python's salted ``hash()``, so every process agrees.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import numpy as np

from ibflow.brokers.paper.market.universe import Instrument

EPOCH = date(1990, 1, 1)
LAST_DAY = date(2099, 12, 31)
HORIZON_DAYS = (LAST_DAY - EPOCH).days + 1
DAYS_PER_YEAR = 365.25
"""The path runs in calendar time: annual volatility spreads over every day of the year."""

MEAN_REGIME_DAYS = 30
RANGE_PULL_PER_YEAR = 20.0
"""Mean reversion inside a range regime (half-life of about 13 days)."""
REFERENCE_SPREAD = 0.35
"""Long-run spread of the log price around the reference level."""
_DT = 1.0 / DAYS_PER_YEAR


def stable_seed(*parts: object) -> int:
    """Return a 64-bit seed from ``parts``, identical in every process and on every run."""
    text = "\x1f".join(str(part) for part in parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def day_index(day: date) -> int:
    """Return the index of New York date ``day`` in the path; ``ValueError`` outside the covered years."""
    index = (day - EPOCH).days
    if not 0 <= index < HORIZON_DAYS:
        raise ValueError(f"the simulated market covers {EPOCH} to {LAST_DAY}, not {day}")
    return index


@dataclass(frozen=True)
class DailyPath:
    """Day-level path of one symbol; index k is the New York date ``EPOCH + k days``."""

    log_levels: np.ndarray
    """Log price at the start of each day; ``log_levels[k + 1]`` is day k's close. Length HORIZON_DAYS+1."""
    sigma: np.ndarray
    """Annualised volatility of each day."""
    volume: np.ndarray
    """Shares traded each day (int64)."""
    regime: np.ndarray
    """-1 down trend, 0 range, +1 up trend (int8)."""


@lru_cache(maxsize=128)
def daily_path(seed: int, instrument: Instrument) -> DailyPath:
    """Generate (once per process) the day-level path of ``instrument`` for every covered day."""
    rng = np.random.default_rng(stable_seed(seed, instrument.symbol, "daily"))
    segments = HORIZON_DAYS // 5
    lengths = rng.geometric(1.0 / MEAN_REGIME_DAYS, size=segments)
    kinds = rng.choice(np.array([-1, 0, 1], dtype=np.int8), size=segments, p=[0.25, 0.5, 0.25])
    vol_position = rng.uniform(0.2, 0.8, size=segments)
    strength = rng.uniform(1.5, 3.0, size=segments)
    shocks = rng.standard_normal(HORIZON_DAYS)
    volume_noise = rng.standard_normal(HORIZON_DAYS)

    segment_of_day = np.repeat(np.arange(segments), lengths)[:HORIZON_DAYS]
    if len(segment_of_day) < HORIZON_DAYS:  # pragma: no cover - 6x the horizon on average
        raise AssertionError("regime chain shorter than the horizon")
    low, high = instrument.vol_low, instrument.vol_high
    sigma = low + (high - low) * vol_position[segment_of_day]
    regime = kinds[segment_of_day]
    trend = regime * strength[segment_of_day] * sigma
    starts = np.zeros(HORIZON_DAYS, dtype=bool)
    starts[0] = True
    starts[1:] = segment_of_day[1:] != segment_of_day[:-1]
    levels = _walk(
        math.log(float(instrument.reference_price)),
        noise=(sigma * math.sqrt(_DT) * shocks).tolist(),
        trend=trend.tolist(),
        regime=regime.tolist(),
        starts=starts.tolist(),
        reference_pull=((low + high) / 2) ** 2 / (2 * REFERENCE_SPREAD**2),
    )
    calm = np.exp(0.3 * volume_noise - 0.045) * (0.6 + 0.5 * np.abs(shocks))
    volume = np.floor(instrument.avg_daily_volume * calm).astype(np.int64)
    for shared in (levels, sigma, volume, regime):
        shared.flags.writeable = False  # cached and shared: nobody may change it
    return DailyPath(log_levels=levels, sigma=sigma, volume=volume, regime=regime)


def _walk(
    start: float,
    *,
    noise: list[float],
    trend: list[float],
    regime: list[int],
    starts: list[bool],
    reference_pull: float,
) -> np.ndarray:
    levels = [start]
    x, center = start, start
    for k, step in enumerate(noise):
        if starts[k]:
            center = x
        drift = trend[k] if regime[k] else -RANGE_PULL_PER_YEAR * (x - center)
        drift -= reference_pull * (x - start)
        x += drift * _DT + step
        levels.append(x)
    return np.array(levels, dtype=np.float64)


def intraday_log_path(
    seed: int, symbol: str, index: int, *, minutes: int, x_open: float, x_close: float, sigma: float
) -> np.ndarray:
    """Return ``minutes + 1`` log prices on the day's 1-minute grid: a bridge from open to close."""
    rng = np.random.default_rng(stable_seed(seed, symbol, "day", index))
    steps = rng.standard_normal(minutes) * (sigma * math.sqrt(_DT / minutes))
    walk = np.concatenate(([0.0], np.cumsum(steps)))
    fraction = np.arange(minutes + 1, dtype=np.float64) / minutes
    path: np.ndarray = x_open + fraction * (x_close - x_open) + walk - fraction * walk[-1]
    return path


def intraday_log_paths(
    seed: int,
    symbol: str,
    indices: list[int],
    *,
    minutes: int,
    x_open: np.ndarray,
    x_close: np.ndarray,
    sigma: np.ndarray,
) -> np.ndarray:
    """Return ``intraday_log_path`` of many days of one symbol at once, one row per day of ``indices``.

    Every day has ``minutes`` minutes and the same numbers as the one-day function, element for element:
    the same draws from each day's own seed, then the same operations in the same order on rows.
    """
    steps = np.empty((len(indices), minutes), dtype=np.float64)
    for row, index in enumerate(indices):
        steps[row] = np.random.default_rng(stable_seed(seed, symbol, "day", index)).standard_normal(minutes)
    steps *= (sigma * math.sqrt(_DT / minutes))[:, None]
    walk = np.zeros((len(indices), minutes + 1), dtype=np.float64)
    np.cumsum(steps, axis=1, out=walk[:, 1:])
    fraction = np.arange(minutes + 1, dtype=np.float64) / minutes
    paths: np.ndarray = (
        x_open[:, None] + fraction * (x_close - x_open)[:, None] + walk - fraction * walk[:, -1:]
    )
    return paths


@lru_cache(maxsize=64)
def volume_profile(minutes: int) -> np.ndarray:
    """Return the U-shaped share of a span's volume traded in each of its ``minutes`` (sums to 1)."""
    position = (np.arange(minutes, dtype=np.float64) + 0.5) / minutes
    weights = 1.0 + 2.0 * (2.0 * position - 1.0) ** 2
    share: np.ndarray = weights / weights.sum()
    share.flags.writeable = False  # cached and shared: nobody may change it
    return share
