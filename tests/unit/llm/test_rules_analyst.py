"""The rules analyst votes on indicators and sets levels from ATR and structure."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from ibflow.db.states import SignalAction
from ibflow.llm.analyst import AnalystInput, IndicatorReading
from ibflow.llm.providers.rules import RulesAnalyst

AS_OF = datetime(2026, 3, 4, 17, 0, tzinfo=UTC)


def _bars(closes: np.ndarray) -> pd.DataFrame:
    index = pd.date_range(end="2026-03-04", periods=len(closes), freq="D", tz="UTC", name="ts")
    return pd.DataFrame(
        {
            "open": closes * 0.998,
            "high": closes * 1.01,
            "low": closes * 0.99,
            "close": closes,
            "volume": np.full(len(closes), 1e6),
        },
        index=index,
    )


def _readings(frame: pd.DataFrame) -> list[IndicatorReading]:
    close = frame["close"]
    sma20 = float(close.rolling(20).mean().iloc[-1])
    sma50 = float(close.rolling(50).mean().iloc[-1])
    delta = close.diff()
    gain = delta.clip(lower=0).ewm(alpha=1 / 14, adjust=False).mean()
    loss = (-delta.clip(upper=0)).ewm(alpha=1 / 14, adjust=False).mean()
    rsi = float(100 - 100 / (1 + gain.iloc[-1] / max(loss.iloc[-1], 1e-12)))
    macd = close.ewm(span=12, adjust=False).mean() - close.ewm(span=26, adjust=False).mean()
    hist = macd - macd.ewm(span=9, adjust=False).mean()
    return [
        IndicatorReading("sma_20", "sma", {"period": 20}, {"sma": sma20}),
        IndicatorReading("sma_50", "sma", {"period": 50}, {"sma": sma50}),
        IndicatorReading("rsi_14", "rsi", {"period": 14}, {"rsi": rsi}),
        IndicatorReading(
            "macd",
            "macd",
            {"fast": 12, "slow": 26, "signal": 9},
            {"macd": float(macd.iloc[-1]), "hist": float(hist.iloc[-1])},
            {"hist": hist.iloc[-10:].tolist()},
        ),
    ]


def _request(closes: np.ndarray) -> AnalystInput:
    frame = _bars(closes)
    return AnalystInput(
        strategy_name="t",
        symbol="TEST",
        as_of=AS_OF,
        last_price=Decimal(str(round(closes[-1], 2))),
        daily=frame,
        indicators=_readings(frame),
    )


def test_a_rising_series_gives_buy_with_ordered_levels() -> None:
    rng = np.random.default_rng(1)
    closes = 100 * np.exp(np.cumsum(0.004 + rng.normal(0, 0.003, 200)))
    out = RulesAnalyst().analyze(_request(closes))
    signal = out.signal
    assert signal.action is SignalAction.BUY, signal.reasoning
    assert signal.stop_loss is not None
    assert signal.entry is not None
    assert signal.take_profit is not None
    assert signal.stop_loss < signal.entry < signal.take_profit
    assert signal.take_profit - signal.entry == pytest.approx(
        2 * (signal.entry - signal.stop_loss), rel=Decimal("0.001")
    )
    assert "sma_20 +1.0" in signal.reasoning
    assert signal.expires_at is not None
    assert signal.expires_at > AS_OF


def test_a_falling_series_gives_sell_or_hold() -> None:
    rng = np.random.default_rng(2)
    closes = 100 * np.exp(np.cumsum(-0.004 + rng.normal(0, 0.003, 200)))
    signal = RulesAnalyst().analyze(_request(closes)).signal
    assert signal.action in (SignalAction.SELL, SignalAction.HOLD)
    assert signal.entry is None


def test_same_input_same_answer_and_no_indicators_falls_back_to_the_mean() -> None:
    closes = np.linspace(50, 80, 60)
    request = _request(closes)
    assert RulesAnalyst().analyze(request).raw_text == RulesAnalyst().analyze(request).raw_text
    bare = AnalystInput("t", "TEST", AS_OF, Decimal(80), _bars(closes), indicators=[])
    signal = RulesAnalyst().analyze(bare).signal
    assert signal.action is SignalAction.BUY
    assert "20-bar mean" in signal.reasoning


def test_too_few_bars_holds_with_an_explanation() -> None:
    bare = AnalystInput("t", "TEST", AS_OF, Decimal(80), _bars(np.linspace(50, 80, 5)), indicators=[])
    signal = RulesAnalyst().analyze(bare).signal
    assert signal.action is SignalAction.HOLD
    assert "No indicator" in signal.reasoning


@pytest.mark.parametrize(
    ("reading", "expected"),
    [
        (IndicatorReading("st", "supertrend", {}, {"supertrend": 90.0, "direction": 1.0}), "st +1.0"),
        (IndicatorReading("st", "supertrend", {}, {"supertrend": 110.0, "direction": -1.0}), "st -1.0"),
        (IndicatorReading("bb", "bbands", {}, {"upper": 99.0, "middle": 95.0, "lower": 91.0}), "bb -0.5"),
        (IndicatorReading("bb", "bbands", {}, {"upper": 120.0, "middle": 110.0, "lower": 101.0}), "bb +0.5"),
        (IndicatorReading("bb", "bbands", {}, {"upper": 120.0, "middle": 95.0, "lower": 91.0}), "bb +0.5"),
        (IndicatorReading("r", "rsi", {}, {"rsi": 80.0}), "r -0.5"),
        (IndicatorReading("r", "rsi", {}, {"rsi": 20.0}), "r +0.5"),
        (IndicatorReading("r", "rsi", {}, {"rsi": 60.0}), "r +0.5"),
        (IndicatorReading("r", "rsi", {}, {"rsi": 40.0}), "r -0.5"),
        (IndicatorReading("m", "macd", {}, {"hist": -0.3}), "m -0.5"),
        (IndicatorReading("m", "macd", {}, {"macd": -1.0, "hist": -0.3}), "m -1.0"),
    ],
)
def test_each_vote(reading: IndicatorReading, expected: str) -> None:
    closes = np.full(30, 100.0)
    request = AnalystInput("t", "T", AS_OF, Decimal(100), _bars(closes), indicators=[reading])
    assert expected in RulesAnalyst().analyze(request).signal.reasoning
