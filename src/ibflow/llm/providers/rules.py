"""The rules analyst: deterministic, offline, and explainable — the default, and a fair baseline.

It votes on the configured indicators, each vote in -1..+1:

- trend: close above / below each SMA and EMA (+1 / -1);
- MACD: histogram above / below zero (+/-0.5) plus the MACD line above / below zero (+/-0.5);
- RSI: above 70 overbought (-0.5), below 30 oversold (+0.5), 50-70 (+0.5), 30-50 (-0.5);
- SuperTrend: its direction (+1 / -1);
- Bollinger: above the middle band (+0.5) or below (-0.5); outside a band leans against the stretch.

With no indicator configured it votes on the close against its own 20-bar mean. The mean vote decides:
BUY at or above +0.35, SELL at or below -0.35, HOLD between. Levels come from ATR (14, Wilder) and recent
structure: stop at the lower of entry - 2 ATR and just under the 10-bar swing low (but at least 1 ATR away),
target at 2R. It replies with the same JSON an LLM would, parsed by the same parser.

``rules-intraday`` votes the same way but sizes its levels for holding minutes to hours, as the demo does:
stop ``INTRADAY_STOP_ATR`` daily ATR under the entry (well inside the price's typical move in an hour),
target at 2R, the signal valid for ``INTRADAY_VALID_MINUTES``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

import numpy as np
import talib

from ibflow.llm.analyst import AnalystInput, AnalystOutput, AnalystUsage, IndicatorReading
from ibflow.llm.signals import parse_signal

BUY_THRESHOLD = 0.35
TARGET_R = 2.0
SWING_BARS = 10
SWING_VALID_MINUTES = 60 * 6
INTRADAY_STOP_ATR = 0.06
INTRADAY_VALID_MINUTES = 30


class RulesAnalyst:
    """Votes on indicators; no network, same answer for the same input.

    ``stop_atr`` None: swing levels (structure and 1-2 ATR); a number: the stop that many daily ATR under
    the entry (the ``rules-intraday`` analyst).
    """

    def __init__(
        self,
        *,
        name: str = "rules",
        model: str = "rules-v1",
        stop_atr: float | None = None,
        valid_minutes: int = SWING_VALID_MINUTES,
    ) -> None:
        self.name, self.model = name, model
        self._stop_atr, self._valid_minutes = stop_atr, valid_minutes

    @classmethod
    def intraday(cls) -> RulesAnalyst:
        """Return the ``rules-intraday`` analyst: the same votes, levels for minutes-to-hours holding."""
        return cls(
            name="rules-intraday",
            model="rules-intraday-v1",
            stop_atr=INTRADAY_STOP_ATR,
            valid_minutes=INTRADAY_VALID_MINUTES,
        )

    def analyze(self, request: AnalystInput) -> AnalystOutput:
        """Return the vote's signal as JSON text and parsed."""
        votes = list(_votes(request))
        score = sum(v for _, v in votes) / len(votes) if votes else 0.0
        action = "BUY" if score >= BUY_THRESHOLD else "SELL" if score <= -BUY_THRESHOLD else "HOLD"
        reply: dict[str, object] = {
            "action": action,
            "confidence": round(min(0.95, 0.5 + abs(score) / 2), 2),
            "timeframe": "1d",
            "reasoning": _explain(votes, score, action),
            "key_factors": [name for name, vote in votes if abs(vote) >= 0.5],
            "valid_for_minutes": self._valid_minutes,
        }
        if action == "BUY":
            reply.update(_levels(request, self._stop_atr))
        raw = json.dumps(reply)
        signal = parse_signal(raw, now=request.as_of)
        return AnalystOutput(self.name, self.model, raw, signal, AnalystUsage())


def _votes(request: AnalystInput) -> Iterable[tuple[str, float]]:
    close = float(request.daily["close"].iloc[-1]) if len(request.daily) else float(request.last_price)
    voted = False
    for reading in request.indicators:
        vote = _vote(reading, close)
        if vote is not None:
            voted = True
            yield reading.key, vote
    if not voted and len(request.daily) >= 20:
        mean = float(request.daily["close"].iloc[-20:].mean())
        yield "close vs 20-bar mean", 1.0 if close > mean else -1.0


def _vote(reading: IndicatorReading, close: float) -> float | None:
    latest = {k: v for k, v in reading.latest.items() if not math.isnan(v)}
    if reading.type == "macd":
        return _macd_vote(reading)
    voter = _VOTERS.get(reading.type)
    return None if voter is None or not latest else voter(latest, close)


def _trend_vote(latest: dict[str, float], close: float) -> float | None:
    return 1.0 if close > next(iter(latest.values())) else -1.0


def _rsi_vote(latest: dict[str, float], _close: float) -> float | None:
    rsi = next(iter(latest.values()))
    if rsi > 70 or (30 <= rsi < 50):
        return -0.5
    return 0.5


def _supertrend_vote(latest: dict[str, float], _close: float) -> float | None:
    if "direction" not in latest:
        return None
    return 1.0 if latest["direction"] > 0 else -1.0


def _bollinger_vote(latest: dict[str, float], close: float) -> float | None:
    if not {"upper", "middle", "lower"} <= latest.keys():
        return None
    if close > latest["upper"]:
        return -0.5
    if close < latest["lower"]:
        return 0.5
    return 0.5 if close > latest["middle"] else -0.5


_VOTERS = {
    "sma": _trend_vote,
    "ema": _trend_vote,
    "rsi": _rsi_vote,
    "supertrend": _supertrend_vote,
    "bbands": _bollinger_vote,
}


def _macd_vote(reading: IndicatorReading) -> float | None:
    hist_key = next((k for k in (*reading.series, *reading.latest) if "hist" in k), None)
    if hist_key is None:
        return None
    hist = [h for h in reading.series.get(hist_key, ()) if not math.isnan(h)]
    latest_hist = hist[-1] if hist else reading.latest.get(hist_key, math.nan)
    if math.isnan(latest_hist):
        return None
    vote = 0.5 if latest_hist > 0 else -0.5
    line = reading.latest.get("macd", math.nan)
    if not math.isnan(line):
        vote += 0.5 if line > 0 else -0.5
    return max(-1.0, min(1.0, vote))


def _levels(request: AnalystInput, stop_atr: float | None) -> dict[str, float]:
    daily = request.daily
    high = daily["high"].to_numpy(dtype=np.float64)
    low = daily["low"].to_numpy(dtype=np.float64)
    close = daily["close"].to_numpy(dtype=np.float64)
    entry = float(request.last_price)
    atr = float(talib.ATR(high, low, close, timeperiod=14)[-1]) if len(close) > 15 else entry * 0.02
    if math.isnan(atr) or atr <= 0:
        atr = entry * 0.02
    if stop_atr is not None:
        stop = entry - stop_atr * atr
    else:
        swing_low = float(low[-SWING_BARS:].min()) if len(low) else entry - 2 * atr
        stop = min(entry - atr, max(entry - 2 * atr, swing_low - 0.25 * atr))
    stop = max(stop, entry * 0.5)
    target = entry + TARGET_R * (entry - stop)
    return {"entry": round(entry, 4), "stop_loss": round(stop, 4), "take_profit": round(target, 4)}


def _explain(votes: list[tuple[str, float]], score: float, action: str) -> str:
    if not votes:
        return "No indicator could vote (too few bars); holding."
    parts = ", ".join(f"{name} {vote:+.1f}" for name, vote in votes)
    return (
        f"Votes: {parts}. Mean {score:+.2f} -> {action} (BUY >= +{BUY_THRESHOLD}, SELL <= -{BUY_THRESHOLD})."
    )
