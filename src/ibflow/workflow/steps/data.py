"""Steps 1-6 of an execution: load the strategy, check the broker, resolve the contract, fetch market data,
compute indicators and render charts. Each takes a ``StepContext`` and returns a ``StepResult``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.brokers.base import AccountSummary, Contract, Quote
from ibflow.charts.levels import PriceLevel
from ibflow.charts.render import ChartSpec, IndicatorSeries
from ibflow.charts.store import WRITE_LOCK, content_key
from ibflow.core.errors import BrokerError, NotFound
from ibflow.core.ids import Conid
from ibflow.db.locks import lock_for_transaction
from ibflow.db.models.executions import Chart, StrategyExecution
from ibflow.db.models.strategies import Indicator, Strategy, StrategyIndicator
from ibflow.indicators.compute import IndicatorConfig, compute_all, latest_values
from ibflow.llm.analyst import AnalystOutput
from ibflow.llm.signals import ParsedSignal
from ibflow.marketdata.bars import BarSeries, weekly_from_daily
from ibflow.marketdata.contracts import ContractService
from ibflow.workflow.deps import BrokerHandle, WorkflowDeps
from ibflow.workflow.engine import StepContext, StepResult
from ibflow.workflow.steps.chart_levels import chart_levels

DAILY_WINDOW = 126  # about six months of daily bars on the daily chart
WEEKLY_WINDOW = 104  # about two years of weekly bars on the weekly chart
MIN_BARS = 2


@dataclass
class RunState:
    """What the steps of one execution hand each other."""

    deps: WorkflowDeps
    as_of: datetime
    snapshot: dict[str, Any] = field(default_factory=dict)
    handle: BrokerHandle | None = None
    account: AccountSummary | None = None
    contract: Contract | None = None
    daily: BarSeries | None = None
    weekly: BarSeries | None = None
    quote: Quote | None = None
    configs: list[IndicatorConfig] = field(default_factory=list)
    daily_outputs: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    weekly_outputs: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    chart_ids: list[int] = field(default_factory=list)
    chart_keys: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    analysis: AnalystOutput | None = None
    llm_call_id: int | None = None
    signal: ParsedSignal | None = None
    signal_id: int | None = None
    summary: dict[str, Any] = field(default_factory=dict)


def strategy_snapshot(strategy: Strategy, indicators: list[Indicator]) -> dict[str, Any]:
    """Return the whole configuration of a strategy as plain JSON (decimals as strings)."""
    return {
        "id": strategy.id,
        "name": strategy.name,
        "conid": strategy.conid,
        "symbol": strategy.symbol,
        "timeframes": list(strategy.timeframes),
        "analyst": strategy.analyst,
        "prompt_template_id": strategy.prompt_template_id,
        "prompt_version_id": strategy.prompt_version_id,
        "cron": strategy.cron,
        "timezone": strategy.timezone,
        "market_hours_only": strategy.market_hours_only,
        "mode": strategy.mode.value,
        "risk": {
            "risk_per_trade": str(strategy.risk_per_trade),
            "max_position_value": str(strategy.max_position_value),
            "max_quantity": str(strategy.max_quantity),
            "max_entries_per_day": strategy.max_entries_per_day,
            "min_reward_risk": str(strategy.min_reward_risk),
            "min_confidence": str(strategy.min_confidence),
            "max_entry_deviation": str(strategy.max_entry_deviation),
        },
        "indicators": [{"name": i.name, "type": i.type, "params": dict(i.params)} for i in indicators],
    }


def strategy_indicators(session: Session, strategy_id: int) -> list[Indicator]:
    """Return the strategy's indicators in their configured order."""
    return list(
        session.scalars(
            select(Indicator)
            .join(StrategyIndicator, StrategyIndicator.indicator_id == Indicator.id)
            .where(StrategyIndicator.strategy_id == strategy_id)
            .order_by(StrategyIndicator.position, StrategyIndicator.id)
        )
    )


def indicator_configs(snapshot: dict[str, Any]) -> list[IndicatorConfig]:
    """Return the indicator configs of a strategy snapshot (``strategy_snapshot``)."""
    return [IndicatorConfig(i["name"], i["type"], i["params"]) for i in snapshot["indicators"]]


def lookback_days(timeframes: list[str]) -> int:
    """Return how many calendar days of daily bars an execution reads: enough for the weekly chart's two
    years (and its indicators' warm-up) when it draws one, else for the daily chart."""
    return 1100 if "1w" in timeframes else 450


def load_strategy(ctx: StepContext[RunState]) -> StepResult:
    """Snapshot the strategy as it is now, so this run's lineage explains itself after later edits."""
    execution = ctx.session.get(StrategyExecution, ctx.execution_id)
    if execution is None:
        raise NotFound(f"execution {ctx.execution_id} does not exist")
    strategy = ctx.session.get(Strategy, execution.strategy_id)
    if strategy is None:
        raise NotFound(f"strategy {execution.strategy_id} does not exist")
    indicators = strategy_indicators(ctx.session, strategy.id)
    snapshot = strategy_snapshot(strategy, indicators)
    execution.config_snapshot = snapshot
    ctx.state.snapshot = snapshot
    ctx.state.configs = indicator_configs(snapshot)
    step_input = {"execution_id": ctx.execution_id, "strategy_id": strategy.id, "trigger": execution.trigger}
    return StepResult(input=step_input, output=snapshot)


def check_broker(ctx: StepContext[RunState]) -> StepResult:
    """Make sure the strategy's broker session works and read the account's numbers."""
    from ibflow.db.states import StrategyMode

    mode = StrategyMode(ctx.state.snapshot["mode"])
    handle = ctx.state.deps.broker_for(mode)
    status = handle.broker.session_status()
    if not status.healthy:
        raise BrokerError(f"{handle.broker.name} session is not usable: {status.message or status}")
    account = handle.broker.account_summary(handle.account_id)
    ctx.state.handle, ctx.state.account = handle, account
    return StepResult(
        input={"mode": mode.value, "broker": handle.broker.name},
        output={
            "broker": handle.broker.name,
            "account_id": account.account_id,
            "cash": account.cash,
            "net_liquidation": account.net_liquidation,
            "buying_power": account.buying_power,
        },
    )


def resolve_contract(ctx: StepContext[RunState]) -> StepResult:
    """Look the contract up (cached in ``symbols``) to know its tick and that it trades."""
    state = ctx.state
    handle = _handle(state)
    service = ContractService(handle.broker, state.deps.cache, state.deps.clock)
    contract = service.details(ctx.session, Conid(int(state.snapshot["conid"])))
    state.contract = contract
    return StepResult(input={"conid": contract.conid}, output=contract)


def fetch_market_data(ctx: StepContext[RunState]) -> StepResult:
    """Read daily bars as of now (cached), resample weekly bars, and read the last quote."""
    state = ctx.state
    handle, contract = _handle(state), _contract(state)
    lookback = lookback_days(state.snapshot["timeframes"])
    daily = state.deps.bar_service(handle.broker, state.deps.clock).daily_bars(
        ctx.session, conid=contract.conid, as_of=state.as_of, lookback_days=lookback
    )
    state.daily, state.weekly = daily, weekly_from_daily(daily)
    state.quote = handle.broker.quote(contract.conid)
    output = {
        "daily_bars": len(daily),
        "weekly_bars": len(state.weekly),
        "first_bar": daily.bars[0].ts if daily.bars else None,
        "last_bar": daily.bars[-1] if daily.bars else None,
        "last_bar_partial": daily.partial_last,
        "quote": state.quote,
    }
    step_input = {"conid": contract.conid, "as_of": state.as_of, "lookback_days": lookback}
    if len(daily) < MIN_BARS:
        return StepResult(step_input, output, stop_reason=f"no market data: {len(daily)} daily bars")
    return StepResult(step_input, output)


def compute_indicators(ctx: StepContext[RunState]) -> StepResult:
    """Compute the configured indicators on daily and weekly bars; record the latest values."""
    state = ctx.state
    daily, weekly = _series(state.daily), _series(state.weekly)
    state.daily_outputs = compute_all(daily.frame, state.configs)
    if len(weekly):
        state.weekly_outputs = compute_all(weekly.frame, state.configs)
    output = {
        "daily": {key: latest_values(values) for key, values in state.daily_outputs.items()},
        "weekly": {key: latest_values(values) for key, values in state.weekly_outputs.items()},
    }
    step_input = {
        "indicators": [{"key": c.key, "type": c.type, "params": dict(c.params)} for c in state.configs]
    }
    return StepResult(step_input, output)


def render_charts(ctx: StepContext[RunState]) -> StepResult:
    """Draw the strategy's timeframes as PNGs, store them by content and link them to the execution.

    Each chart's row is written, then the chart stored, under the chart store's lock (``charts.store.
    WRITE_LOCK``, shared: renders never wait for each other) held until the step's one commit, so pruning,
    which takes it exclusively and deletes a stored chart once no row references its key, never deletes one
    being linked.
    """
    state = ctx.state
    drawn: list[dict[str, Any]] = []
    for timeframe in state.snapshot["timeframes"]:
        series, outputs = (
            (state.daily, state.daily_outputs) if timeframe == "1d" else (state.weekly, state.weekly_outputs)
        )
        drawn.append(_render_one(ctx, _series(series), outputs, timeframe))
    return StepResult(input={"timeframes": state.snapshot["timeframes"]}, output={"charts": drawn})


def chart_inputs(
    series: BarSeries,
    outputs: dict[str, dict[str, np.ndarray]],
    configs: list[IndicatorConfig],
    *,
    timeframe: str,
    symbol: str,
    size: tuple[int, int],
    levels: tuple[PriceLevel, ...],
) -> tuple[pd.DataFrame, IndicatorSeries, ChartSpec]:
    """Return what ``render_chart`` draws for one timeframe: the window of bars, each indicator's outputs
    cut to it, and the spec (``size`` is width and height in pixels)."""
    window = DAILY_WINDOW if timeframe == "1d" else WEEKLY_WINDOW
    frame = series.frame.iloc[-window:]
    sliced = [(c, {k: v[-window:] for k, v in outputs.get(c.key, {}).items()}) for c in configs]
    spec = ChartSpec(
        symbol=symbol,
        timeframe="1d" if timeframe == "1d" else "1w",
        width_px=size[0],
        height_px=size[1],
        partial_last_bar=series.partial_last,
        levels=levels,
    )
    return frame, sliced, spec


def _render_one(
    ctx: StepContext[RunState],
    series: BarSeries,
    outputs: dict[str, dict[str, np.ndarray]],
    timeframe: str,
) -> dict[str, Any]:
    state = ctx.state
    settings = state.deps.chart_settings
    frame, sliced, spec = chart_inputs(
        series,
        outputs,
        state.configs,
        timeframe=timeframe,
        symbol=state.snapshot["symbol"],
        size=(settings.chart_width_px, settings.chart_height_px),
        levels=_levels(ctx) if timeframe == "1d" else (),
    )
    png = state.deps.chart_renderer(state.as_of, frame, sliced, spec)
    digest = hashlib.sha256(png).hexdigest()
    key = content_key(digest)  # identical charts, of this run or any other, are stored once
    chart = Chart(
        execution_id=ctx.execution_id,
        timeframe=timeframe,
        store_key=key,
        size_bytes=len(png),
        sha256=digest,
        width=spec.width_px,
        height=spec.height_px,
        bar_from=series.bars[-len(frame)].ts,
        bar_to=series.bars[-1].ts,
        created_at=state.deps.clock.now(),
    )
    ctx.session.add(chart)
    ctx.session.flush()  # the row first: on SQLite the write is the guard below
    lock_for_transaction(ctx.session, WRITE_LOCK, shared=True)  # until the step's commit: pruning cannot
    state.deps.chart_store.put(key, png)  # delete the key in between (renders never wait for each other)
    state.chart_ids.append(chart.id)
    state.chart_keys[timeframe] = (chart.id, key, digest)
    return {"chart_id": chart.id, "timeframe": timeframe, "key": key, "sha256": digest, "bytes": len(png)}


def _levels(ctx: StepContext[RunState]) -> tuple[PriceLevel, ...]:
    state = ctx.state
    strategy_id = int(state.snapshot["id"])
    return chart_levels(ctx.session, strategy_id=strategy_id, as_of=state.as_of, last=last_price(state))


def _handle(state: RunState) -> BrokerHandle:
    if state.handle is None:
        raise RuntimeError("check_broker did not run")
    return state.handle


def _contract(state: RunState) -> Contract:
    if state.contract is None:
        raise RuntimeError("resolve_contract did not run")
    return state.contract


def _series(series: BarSeries | None) -> BarSeries:
    if series is None:
        raise RuntimeError("fetch_market_data did not run")
    return series


def last_price(state: RunState) -> Decimal:
    """Return the quote's last price, or the last close when there is no quote."""
    if state.quote is not None:
        return state.quote.last
    return _series(state.daily).bars[-1].close
