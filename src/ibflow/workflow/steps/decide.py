"""Steps 7-9 of an execution: ask the analyst, record the signal, size it and check the risk."""

from __future__ import annotations

import math
from decimal import Decimal
from functools import partial
from typing import Any

import numpy as np
from sqlalchemy import select

from ibflow.core.errors import BudgetExceeded
from ibflow.core.ids import AccountId, Conid, ExecutionId, SignalId, StrategyId
from ibflow.db.after_commit import on_commit
from ibflow.db.events.outbox import record_event
from ibflow.db.models.executions import LlmCall, TradingSignal
from ibflow.db.models.positions import Position
from ibflow.db.states import PositionStatus, SignalAction, StrategyMode
from ibflow.llm.analyst import AnalystInput, ChartRef, IndicatorReading
from ibflow.llm.ledger import count_call
from ibflow.trading.intents import EntryIntent, IntentAction, StrategyLimits
from ibflow.trading.risk.checks import MarketSnapshot, evaluate_entry
from ibflow.workflow.engine import StepContext, StepResult
from ibflow.workflow.steps.data import RunState, last_price
from ibflow.workflow.steps.llm_input import calls_for_lineage, llm_request

SERIES_TAIL = 30  # how much of each indicator series an analyst sees


def analyze(ctx: StepContext[RunState]) -> StepResult:
    """Ask the strategy's analyst for a signal and record the call (prompt, reply, tokens, cost)."""
    state = ctx.state
    request = _analyst_input(state)
    analyst = state.deps.analyst_for(state.snapshot["analyst"])
    step_input = {
        "analyst": analyst.name,
        "model": analyst.model,
        "last_price": request.last_price,
        "indicators": {r.key: dict(r.latest) for r in request.indicators},
        "charts": [ref.store_key for ref in request.charts],
    }
    if getattr(analyst, "uses_prompts", False):
        request = llm_request(ctx, request, provider=analyst.name)
        step_input["prompts"] = {role: t.version_id for role, t in request.templates.items()}
        ctx.session.commit()  # the ledger writes each call in sessions of its own (SQLite: one writer)
    try:
        output = analyst.analyze(request)
    except BudgetExceeded as exc:  # the call was not made: the step fails, so no order can follow
        exc.step_input = {**step_input, "reason": exc.reason_code}  # type: ignore[attr-defined]
        raise
    state.analysis = output
    if output.call_ids:  # an LLM analyst recorded each of its calls
        state.llm_call_id = output.call_ids[-1]
        calls = calls_for_lineage(ctx.session, output.call_ids, request.ledger)
        output_doc = {"llm_call_ids": list(output.call_ids), "calls": calls, "usage": output.usage}
        return StepResult(input=step_input, output={**output_doc, "raw_text": output.raw_text})
    call = LlmCall(
        execution_id=ctx.execution_id,
        provider=output.provider,
        model=output.model,
        prompt_version_id=state.snapshot.get("prompt_version_id"),
        rendered_prompt=request.prompt,
        image_refs=[ref.store_key for ref in request.charts],
        raw_response=output.raw_text,
        input_tokens=output.usage.input_tokens,
        output_tokens=output.usage.output_tokens,
        cost=output.usage.cost,
        latency_ms=output.usage.latency_ms,
        created_at=state.deps.clock.now(),
    )
    ctx.session.add(call)
    ctx.session.flush()
    usage = output.usage
    on_commit(
        ctx.session,
        partial(count_call, output.provider, "ok", usage.input_tokens, usage.output_tokens, usage.cost),
    )
    state.llm_call_id = call.id
    return StepResult(
        input=step_input,
        output={"llm_call_id": call.id, "raw_text": output.raw_text, "usage": output.usage},
    )


def _analyst_input(state: RunState) -> AnalystInput:
    daily = state.daily
    if daily is None:
        raise RuntimeError("fetch_market_data did not run")
    readings = [
        IndicatorReading(
            key=config.key,
            type=config.type,
            params=dict(config.params),
            latest={k: _finite(v) for k, v in _latest(state.daily_outputs.get(config.key, {})).items()},
            series={
                k: [float(x) for x in v[-SERIES_TAIL:]] for k, v in state.daily_outputs[config.key].items()
            },
        )
        for config in state.configs
        if config.key in state.daily_outputs
    ]
    charts = [ChartRef(tf, key, digest, chart_id) for tf, (chart_id, key, digest) in state.chart_keys.items()]
    return AnalystInput(
        strategy_name=state.snapshot["name"],
        symbol=state.snapshot["symbol"],
        as_of=state.as_of,
        last_price=last_price(state),
        daily=daily.frame,
        indicators=readings,
        charts=charts,
    )


def _latest(outputs: dict[str, np.ndarray]) -> dict[str, float]:
    result: dict[str, float] = {}
    for name, values in outputs.items():
        finite = values[~np.isnan(values)]
        result[name] = float(finite[-1]) if len(finite) else math.nan
    return result


def _finite(value: float) -> float:
    return value if math.isfinite(value) else math.nan


def decide_signal(ctx: StepContext[RunState]) -> StepResult:
    """Record the parsed signal; a HOLD or NO_SIGNAL ends the run normally, with its reason."""
    state = ctx.state
    if state.analysis is None:
        raise RuntimeError("analyze did not run")
    signal = state.analysis.signal
    row = TradingSignal(
        execution_id=ctx.execution_id,
        strategy_id=state.snapshot["id"],
        action=signal.action,
        confidence=signal.confidence,
        entry=signal.entry,
        stop_loss=signal.stop_loss,
        take_profit=signal.take_profit,
        timeframe=signal.timeframe,
        reasoning=signal.reasoning,
        key_factors=list(signal.key_factors),
        expires_at=signal.expires_at,
        reason=None if signal.no_signal_reason is None else "no_signal",
        reason_detail=signal.no_signal_reason,
        provider=state.analysis.provider,
        model=state.analysis.model,
        prompt_version_id=state.analysis.prompt_version_id or state.snapshot.get("prompt_version_id"),
        chart_ids=list(state.chart_ids),
        created_at=state.deps.clock.now(),
    )
    ctx.session.add(row)
    ctx.session.flush()
    _signal_event(ctx, row)
    state.signal, state.signal_id = signal, row.id
    state.summary["signal"] = {"id": row.id, "action": signal.action.value}
    output = {"signal_id": row.id, **signal.as_dict()}
    step_input = {"llm_call_id": state.llm_call_id, "raw_text": state.analysis.raw_text}
    if signal.action is SignalAction.HOLD:
        row.outcome = "no_order"
        return StepResult(step_input, output, stop_reason="signal is HOLD")
    if signal.action is SignalAction.NO_SIGNAL:
        row.outcome = "no_order"
        return StepResult(step_input, output, stop_reason=f"NO_SIGNAL: {signal.no_signal_reason}")
    return StepResult(step_input, output)


def limits_of(snapshot: dict[str, Any]) -> StrategyLimits:
    """Return the strategy's risk limits as they were when the run started."""
    risk = snapshot["risk"]
    return StrategyLimits(
        mode=StrategyMode(snapshot["mode"]),
        risk_per_trade=Decimal(risk["risk_per_trade"]),
        max_position_value=Decimal(risk["max_position_value"]),
        max_quantity=Decimal(risk["max_quantity"]),
        max_entries_per_day=int(risk["max_entries_per_day"]),
        min_reward_risk=Decimal(risk["min_reward_risk"]),
        min_confidence=Decimal(risk["min_confidence"]),
        max_entry_deviation=Decimal(risk["max_entry_deviation"]),
    )


def entry_intent(state: RunState, execution_id: ExecutionId) -> EntryIntent:
    """Turn the signal into trading's own intent type (trading never imports llm)."""
    signal, handle = state.signal, state.handle
    if signal is None or handle is None or state.contract is None:
        raise RuntimeError("earlier steps did not run")
    return EntryIntent(
        strategy_id=StrategyId(state.snapshot["id"]),
        account_id=AccountId(handle.account_id),
        conid=Conid(state.contract.conid),
        symbol=state.contract.symbol,
        action=IntentAction.BUY if signal.action is SignalAction.BUY else IntentAction.SELL,
        created_at=state.deps.clock.now(),
        signal_id=None if state.signal_id is None else SignalId(state.signal_id),
        execution_id=execution_id,
        entry=signal.entry,
        stop=signal.stop_loss,
        target=signal.take_profit,
        confidence=signal.confidence,
        expires_at=signal.expires_at,
    )


def market_snapshot(state: RunState) -> MarketSnapshot:
    """Return what the broker said during this run, for the risk checks (which never call the broker)."""
    if (
        state.account is None
        or state.quote is None
        or state.contract is None
        or state.daily is None
        or state.handle is None
    ):
        raise RuntimeError("earlier steps did not run")
    return MarketSnapshot(
        account=state.account,
        quote=state.quote,
        min_tick=state.contract.min_tick,
        bars_available=len(state.daily) >= 2,
        market_open=state.handle.market_open(state.deps.clock.now()),
    )


def size_and_check_risk(ctx: StepContext[RunState]) -> StepResult:
    """Size a BUY and run every risk check; a SELL needs a position. A block ends the run normally."""
    state = ctx.state
    intent = entry_intent(state, ctx.execution_id)
    signal_row = ctx.session.get(TradingSignal, state.signal_id)
    step_input = {"intent": intent, "limits": limits_of(state.snapshot)}
    if intent.action is IntentAction.SELL:
        position = _open_position(ctx, intent)
        if position is None:
            if signal_row is not None:
                signal_row.outcome, signal_row.reason = "no_position", "no_position"
            return StepResult(step_input, {"exit": None}, stop_reason="no_position: SELL with nothing held")
        return StepResult(step_input, {"exit": {"position_id": position.id, "quantity": position.quantity}})
    decision = evaluate_entry(
        ctx.session,
        intent=intent,
        limits=limits_of(state.snapshot),
        snapshot=market_snapshot(state),
        clock=state.deps.clock,
        live_trading_allowed=state.deps.broker_settings.live_trading_allowed,
        risk_env=state.deps.risk_settings,
    )
    state.summary["risk"] = decision.as_dict()
    if signal_row is not None:
        signal_row.is_valid = decision.allowed
        signal_row.reason = None if decision.reason is None else decision.reason.value
        signal_row.reason_detail = decision.detail
    if not decision.allowed:
        if signal_row is not None:
            signal_row.outcome = "blocked"
        reason = decision.reason.value if decision.reason else "blocked"
        return StepResult(
            step_input, decision.as_dict(), stop_reason=f"risk block {reason}: {decision.detail}"
        )
    return StepResult(step_input, decision.as_dict())


def _open_position(ctx: StepContext[RunState], intent: EntryIntent) -> Position | None:
    return ctx.session.scalars(
        select(Position).where(
            Position.account_id == intent.account_id,
            Position.strategy_id == intent.strategy_id,
            Position.conid == intent.conid,
            Position.status == PositionStatus.OPEN,
        )
    ).one_or_none()


def _signal_event(ctx: StepContext[RunState], row: TradingSignal) -> None:
    def text(value: object) -> str | None:
        return None if value is None else str(value)

    levels = " ".join(
        f"{name} {value.normalize():f}"
        for name, value in (("entry", row.entry), ("stop", row.stop_loss), ("target", row.take_profit))
        if value is not None
    )
    record_event(
        ctx.session,
        kind="signal.recorded",
        at=row.created_at,
        entity_type="signal",
        entity_id=row.id,
        execution_id=ctx.execution_id,
        message=f"{ctx.state.snapshot.get('name', '')}: {row.action.value}"
        + (f" ({row.reason_detail})" if row.reason_detail else f" {levels}".rstrip()),
        payload={
            "strategy_id": row.strategy_id,
            "action": row.action.value,
            "confidence": text(row.confidence),
            "entry": text(row.entry),
            "stop_loss": text(row.stop_loss),
            "take_profit": text(row.take_profit),
            "model": row.model,
            "reason": row.reason_detail,
        },
    )
