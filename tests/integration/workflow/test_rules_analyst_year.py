"""Over a simulated year the rules analyst finds at least one BUY on every demo symbol."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ibflow.brokers.paper.market.prices import SimulatedMarket
from ibflow.db.states import SignalAction
from ibflow.indicators.compute import IndicatorConfig, compute_all, latest_values
from ibflow.llm.analyst import AnalystInput, IndicatorReading
from ibflow.llm.providers.rules import RulesAnalyst
from ibflow.marketdata.bars import to_frame
from ibflow.workflow.strategies.demo import DEMO_STRATEGIES

pytestmark = pytest.mark.integration
YEAR_START = datetime(2025, 1, 6, 21, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "symbol", "indicators"), DEMO_STRATEGIES, ids=[s[0] for s in DEMO_STRATEGIES]
)
def test_at_least_one_buy_per_demo_symbol_over_a_simulated_year(
    name: str, symbol: str, indicators: tuple[object, ...]
) -> None:
    market = SimulatedMarket(seed=20260101)
    conid = market.universe.search(symbol)[0].conid
    configs = [IndicatorConfig.of(i.type, i.params) for i in indicators]  # type: ignore[attr-defined]
    bars = market.daily_bars(conid, YEAR_START - timedelta(days=200), YEAR_START + timedelta(days=366))
    analyst = RulesAnalyst()
    actions: list[SignalAction] = []
    for week in range(52):
        as_of = YEAR_START + timedelta(days=7 * week)
        seen = [b for b in bars if b.ts < as_of]
        frame = to_frame(seen)
        outputs = compute_all(frame, configs)
        readings = [
            IndicatorReading(
                c.key,
                c.type,
                dict(c.params),
                latest_values(outputs[c.key]),
                {k: list(v[-30:]) for k, v in outputs[c.key].items()},
            )
            for c in configs
        ]
        request = AnalystInput(name, symbol, as_of, Decimal(str(seen[-1].close)), frame, readings)
        signal = analyst.analyze(request).signal
        actions.append(signal.action)
        if signal.action is SignalAction.BUY:
            assert signal.stop_loss is not None
            assert signal.entry is not None
            assert signal.take_profit is not None
            assert signal.stop_loss < signal.entry < signal.take_profit
    assert SignalAction.BUY in actions, f"{symbol}: {actions}"
    assert SignalAction.NO_SIGNAL not in actions
