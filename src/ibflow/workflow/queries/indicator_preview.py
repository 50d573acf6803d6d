"""An indicator's latest values and a short series for a symbol, as of now (the API's preview); its chart."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ibflow.brokers.base import Broker, Contract
from ibflow.core.clock import Clock
from ibflow.core.errors import NotFound, ValidationError
from ibflow.indicators.compute import FloatArray, IndicatorConfig, compute, warmup_bars
from ibflow.marketdata.bars import BarSeries, BarService
from ibflow.marketdata.contracts import ContractService

MAX_POINTS = 200
CHART_BARS = 60
"""The fewest daily bars a preview chart shows (a chart of 5 bars says little)."""


@dataclass(frozen=True)
class IndicatorPreview:
    """What an indicator shows for a symbol now: its complete params, latest values and the last bars."""

    symbol: str
    conid: int
    type: str
    params: dict[str, float | int]
    as_of: datetime
    latest: dict[str, float | None]
    series: list[dict[str, Any]]


def preview_indicator(
    session: Session,
    *,
    broker: Broker,
    contracts: ContractService,
    clock: Clock,
    symbol: str,
    indicator_type: str,
    params: Mapping[str, object] | None,
    points: int,
) -> IndicatorPreview:
    """Compute ``indicator_type`` with ``params`` over the symbol's daily bars; keep the last ``points``."""
    found = _computed(session, broker, contracts, clock, symbol, indicator_type, params, points)
    tail = found.series.bars[-points:]
    offset = len(found.series.bars) - len(tail)
    return IndicatorPreview(
        symbol=found.contract.symbol,
        conid=found.contract.conid,
        type=found.config.type,
        params=dict(found.config.params),
        as_of=found.as_of,
        latest={name: _number(values[-1]) if len(values) else None for name, values in found.outputs.items()},
        series=[
            {
                "ts": bar.ts,
                "close": str(bar.close),
                **{name: _number(values[offset + n]) for name, values in found.outputs.items()},
            }
            for n, bar in enumerate(tail)
        ],
    )


def preview_chart(
    session: Session,
    *,
    broker: Broker,
    contracts: ContractService,
    clock: Clock,
    symbol: str,
    indicator_type: str,
    params: Mapping[str, object] | None,
    points: int,
    size: tuple[int, int] = (960, 600),
) -> bytes:
    """Draw the preview's daily chart (PNG): at least ``CHART_BARS`` bars with the indicator, as of now."""
    from ibflow.charts.render import ChartSpec, render_chart
    from ibflow.charts.windows import chart_window

    shown = max(points, CHART_BARS)
    found = _computed(session, broker, contracts, clock, symbol, indicator_type, params, shown)
    bars, cut = chart_window(found.series.frame, [(found.config, found.outputs)], "1d", size=shown)
    spec = ChartSpec(found.contract.symbol, "1d", width_px=size[0], height_px=size[1])
    return render_chart(bars, cut, spec)


@dataclass(frozen=True)
class _Computed:
    contract: Contract
    config: IndicatorConfig
    as_of: datetime
    series: BarSeries
    outputs: dict[str, FloatArray]


def _computed(  # noqa: PLR0917 (private: the two public functions' keywords, in order)
    session: Session,
    broker: Broker,
    contracts: ContractService,
    clock: Clock,
    symbol: str,
    indicator_type: str,
    params: Mapping[str, object] | None,
    points: int,
) -> _Computed:
    if not 1 <= points <= MAX_POINTS:
        raise ValidationError("invalid preview", {"points": f"give 1 to {MAX_POINTS}, got {points}"})
    config = IndicatorConfig.of(indicator_type, params)  # unknown type or bad params: every problem at once
    wanted = symbol.strip().upper()
    matches = [c for c in contracts.search(session, wanted) if c.symbol.upper() == wanted]
    if not matches:
        raise NotFound(f"no contract with the symbol {wanted!r}")
    contract = matches[0]
    bars_needed = warmup_bars(config) + points + 5
    now = clock.now()
    series = BarService(broker, clock).daily_bars(
        session, conid=contract.conid, as_of=now, lookback_days=bars_needed * 7 // 5 + 10
    )
    return _Computed(contract, config, now, series, dict(compute(series.frame, config)))


def _number(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 6)
