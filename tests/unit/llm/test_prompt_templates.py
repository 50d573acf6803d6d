"""Prompt templates: unsafe or unknown constructs are refused with their line; the defaults render."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from ibflow.core.errors import ValidationError
from ibflow.indicators.compute import IndicatorConfig, compute_all
from ibflow.llm.analyst import AnalystInput, ChartRef, IndicatorReading
from ibflow.llm.prompts.defaults import DEFAULTS
from ibflow.llm.prompts.render import render, validate
from ibflow.llm.prompts.variables import allowed_for, build_variables
from ibflow.workflow.strategies.demo import DEMO_STRATEGIES

GOOD = "Analyse {{ symbol }} at {{ last_price }}.\n"


@pytest.mark.parametrize(
    ("line3", "says"),
    [
        ("{{ portfolio_value }}", "unknown variable 'portfolio_value'"),
        ("{{ ''.__class__ }}", "'__class__' is not allowed"),
        ("{{ symbol.__class__.__mro__[1].__subclasses__() }}", "is not allowed"),
        ("{{ indicators['__dict__'] }}", "'__dict__' is not allowed"),
        ("{{ cycler.__init__.__globals__ }}", "unknown variable 'cycler'"),
        ("{{ symbol.format(1) }}", "calls are limited"),
        ("{% include 'other' %}", "cannot include"),
    ],
)
def test_an_unsafe_or_unknown_construct_is_rejected_with_its_line(line3: str, says: str) -> None:
    body = GOOD + "Second line.\n" + line3 + "\n"
    with pytest.raises(ValidationError) as caught:
        validate(body, allowed_for("analysis"))
    assert "line 3" in str(caught.value)
    assert says in str(caught.value)


def test_a_clean_template_passes_and_renders_in_the_sandbox() -> None:
    validate(GOOD, allowed_for("analysis"))
    assert render(GOOD, {"symbol": "AAPL", "last_price": "190.1"}) == "Analyse AAPL at 190.1."


def test_rendering_a_missing_value_names_the_line() -> None:
    with pytest.raises(ValidationError, match="line 2"):
        render("ok\n{{ ohlcv.high_52w }}", {"ohlcv": {}})


def test_chain_variables_belong_to_their_roles_only() -> None:
    with pytest.raises(ValidationError, match="daily_analysis"):
        validate("{{ daily_analysis }}", allowed_for("analysis"))
    validate("{{ daily_analysis }} {{ weekly_analysis }}", allowed_for("consolidation"))


def _frame(bars: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    close = 100 + np.cumsum(rng.normal(0, 1, bars))
    index = pd.date_range("2025-01-01", periods=bars, freq="D", tz=UTC, name="ts")
    return pd.DataFrame(
        {"open": close, "high": close + 1, "low": close - 1, "close": close, "volume": 1e6}, index=index
    )


@pytest.mark.parametrize(
    ("name", "symbol", "indicators"), DEMO_STRATEGIES, ids=[d[0] for d in DEMO_STRATEGIES]
)
def test_every_default_template_validates_and_renders_for_every_demo_strategy(
    name: str, symbol: str, indicators: tuple[object, ...]
) -> None:
    frame = _frame()
    configs = [_config(i) for i in indicators]
    outputs = compute_all(frame, configs)
    readings = [
        IndicatorReading(
            c.key,
            c.type,
            dict(c.params),
            {k: float(v[-1]) for k, v in outputs[c.key].items()},
            {k: [float(x) for x in v[-30:]] for k, v in outputs[c.key].items()},
        )
        for c in configs
    ]
    request = AnalystInput(
        strategy_name=name,
        symbol=symbol,
        as_of=datetime(2026, 3, 4, 17, tzinfo=UTC),
        last_price=Decimal("101.5"),
        daily=frame,
        indicators=readings,
        charts=[ChartRef("1d", "k1", "a" * 64), ChartRef("1w", "k2", "b" * 64)],
    )
    context = {
        "exchange": "NASDAQ",
        "risk": {"min_reward_risk": "1.5", "min_confidence": "0.55", "max_entry_deviation": "0.03"},
    }
    variables = {**build_variables(request, context), "daily_analysis": "d", "weekly_analysis": "w"}
    for (role, _language), body in DEFAULTS.items():
        validate(body, allowed_for(role))
        text = render(body, variables)
        assert symbol in text or role == "system"


def _config(indicator: object) -> IndicatorConfig:
    from ibflow.workflow.strategies.lookup import IndicatorInput

    assert isinstance(indicator, IndicatorInput)
    params = dict(indicator.params)
    key = f"{indicator.type}_{'_'.join(str(v) for v in params.values())}".rstrip("_")
    return IndicatorConfig(key, indicator.type, params)
