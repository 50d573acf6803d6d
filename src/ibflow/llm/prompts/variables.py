"""The documented variables a prompt may use, and how they are filled from an analyst's input."""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pandas as pd

from ibflow.llm.analyst import AnalystInput
from ibflow.llm.schema import schema_text

RECENT_BARS = 10
PRICES = ("open", "high", "low", "close")
COLUMNS = (*PRICES, "volume")

VARIABLES: dict[str, str] = {
    "symbol": "the ticker, e.g. AAPL",
    "exchange": "the listing exchange, e.g. NASDAQ",
    "currency": "the contract's currency, e.g. USD",
    "now": "the analysis time, ISO 8601 UTC",
    "last_price": "the last traded price (text, exact)",
    "change": "last price minus the previous daily close (text)",
    "change_pct": "that change in percent, two decimals (text)",
    "ohlcv": "summary of the daily bars: bars, first, last, high_20, low_20, avg_volume_20, recent (list of "
    "the last 10 bars: date, open, high, low, close, volume)",
    "indicators": "each configured indicator by key (e.g. sma_20): type, params, latest (output -> value), "
    "series (output -> the last 30 values)",
    "charts": "the charts sent with this prompt: list of {timeframe, description}",
    "strategy": "name, timeframes, mode (paper/live), analysis_mode (single/chain)",
    "risk": "the strategy's risk parameters: risk_per_trade, max_position_value, max_quantity, "
    "min_reward_risk, min_confidence, max_entry_deviation (text)",
    "allowed_actions": "the actions the reply may choose, e.g. ['BUY', 'HOLD', 'NO_SIGNAL']; SELL when held",
    "position": "the position held: quantity, avg_cost, stop, target, opened_at; none when flat",
    "signal_schema": "the JSON schema of the signal, as text",
}
ROLE_VARIABLES: dict[str, dict[str, str]] = {
    "weekly": {"daily_analysis": "the reply of the daily analysis (chain mode)"},
    "consolidation": {
        "daily_analysis": "the reply of the daily analysis (chain mode)",
        "weekly_analysis": "the reply of the weekly confirmation (chain mode)",
    },
}
ROLES = ("system", "analysis", "weekly", "consolidation")


def allowed_for(role: str) -> set[str]:
    """Return the variable names a template of ``role`` may use."""
    return set(VARIABLES) | set(ROLE_VARIABLES.get(role, {}))


def build_variables(request: AnalystInput, context: Mapping[str, Any]) -> dict[str, Any]:
    """Fill the documented variables from ``request`` and the workflow's ``context`` (position...)."""
    daily = request.daily
    previous = Decimal(str(daily["close"].iloc[-2])) if len(daily) >= 2 else request.last_price
    change = request.last_price - previous
    change_pct = (change / previous * 100).quantize(Decimal("0.01")) if previous else Decimal(0)
    position = context.get("position")
    actions = ["BUY", "HOLD", "NO_SIGNAL"] + (["SELL"] if position else [])
    return {
        "symbol": request.symbol,
        "exchange": context.get("exchange", ""),
        "currency": context.get("currency", "USD"),
        "now": request.as_of.isoformat(),
        "last_price": str(request.last_price),
        "change": str(change.quantize(Decimal("0.0001")).normalize()),
        "change_pct": str(change_pct),
        "ohlcv": _ohlcv(daily),
        "indicators": {
            r.key: {
                "type": r.type,
                "params": dict(r.params),
                "latest": {k: _round(v) for k, v in r.latest.items()},
                "series": {k: [_round(x) for x in v] for k, v in r.series.items()},
            }
            for r in request.indicators
        },
        "charts": [
            {"timeframe": c.timeframe, "description": _CHART_TEXT.get(c.timeframe, c.timeframe)}
            for c in request.charts
        ],
        "strategy": dict(context.get("strategy", {"name": request.strategy_name})),
        "risk": dict(context.get("risk", {})),
        "allowed_actions": actions,
        "position": position,
        "signal_schema": schema_text(),
    }


_CHART_TEXT = {
    "1d": "daily candles, about six months, with the configured indicators and volume",
    "1w": "weekly candles, about two years, with the configured indicators and volume",
}


def _round(value: float) -> float | None:
    return None if not math.isfinite(value) else round(value, 4)


def _ohlcv(daily: pd.DataFrame) -> dict[str, Any]:
    if not len(daily):
        return {"bars": 0, "recent": []}
    tail20 = daily.iloc[-20:]
    # column arrays, not ``iterrows`` (a Series per row was most of this function's time); same values
    tail = {k: daily[k].to_numpy()[-RECENT_BARS:] for k in COLUMNS}
    recent = [
        {
            "date": pd.Timestamp(ts).date().isoformat(),
            **{k: round(float(tail[k][i]), 4) for k in PRICES},
            "volume": int(tail["volume"][i]),
        }
        for i, ts in enumerate(daily.index[-RECENT_BARS:])
    ]
    return {
        "bars": len(daily),
        "first": daily.index[0].date().isoformat(),
        "last": daily.index[-1].date().isoformat(),
        "high_20": round(float(tail20["high"].max()), 4),
        "low_20": round(float(tail20["low"].min()), 4),
        "avg_volume_20": int(tail20["volume"].mean()),
        "recent": recent,
    }
