"""An indicator's latest values and a short series for a symbol, as of now (the API's preview)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ibflow.brokers.base import Broker
from ibflow.core.clock import Clock
from ibflow.core.errors import NotFound, ValidationError
from ibflow.indicators.compute import IndicatorConfig, compute, warmup_bars
from ibflow.marketdata.bars import BarService
from ibflow.marketdata.contracts import ContractService

MAX_POINTS = 200


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
    outputs = compute(series.frame, config)
    tail = series.bars[-points:]
    offset = len(series.bars) - len(tail)
    return IndicatorPreview(
        symbol=contract.symbol,
        conid=contract.conid,
        type=config.type,
        params=dict(config.params),
        as_of=now,
        latest={name: _number(values[-1]) if len(values) else None for name, values in outputs.items()},
        series=[
            {
                "ts": bar.ts,
                "close": str(bar.close),
                **{name: _number(values[offset + n]) for name, values in outputs.items()},
            }
            for n, bar in enumerate(tail)
        ],
    )


def _number(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 6)
