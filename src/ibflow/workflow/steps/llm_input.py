"""What the analyze step adds for an LLM analyst: the resolved prompts, the variables, the chart bytes and
the execution's call ledger (cache, budget, ``llm_calls``); and the calls as lineage shows them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.charts.store import ChartStore
from ibflow.db.models.executions import LlmCall, StrategyExecution
from ibflow.db.models.positions import Position
from ibflow.db.models.strategies import Strategy
from ibflow.db.states import PositionStatus
from ibflow.llm.analyst import AnalystInput, CallLedger
from ibflow.llm.budget import Budget
from ibflow.llm.costs import PriceTable
from ibflow.llm.ledger import DbLedger, lineage
from ibflow.llm.prompts import store as prompts
from ibflow.llm.prompts.variables import build_variables
from ibflow.workflow.engine import StepContext
from ibflow.workflow.steps.data import RunState


def llm_request(ctx: StepContext[RunState], request: AnalystInput, *, provider: str) -> AnalystInput:
    """Return ``request`` with prompts, variables, chart PNGs, mode, model and ledger for an LLM analyst."""
    state, session = ctx.state, ctx.session
    strategy = session.get(Strategy, state.snapshot["id"])
    mode = strategy.analysis_mode if strategy else "single"
    model = strategy.llm_model if strategy else None
    templates = prompts.resolve(
        session,
        template_id=state.snapshot.get("prompt_template_id"),
        version_id=state.snapshot.get("prompt_version_id"),
        clock=state.deps.clock,
    )
    _record_in_snapshot(session, ctx.execution_id, mode, model, templates, pinned=state.snapshot)
    context = {
        "exchange": state.contract.exchange if state.contract else "",
        "currency": state.contract.currency if state.contract else "USD",
        "strategy": {
            "name": state.snapshot["name"],
            "timeframes": list(state.snapshot["timeframes"]),
            "mode": state.snapshot["mode"],
            "analysis_mode": mode,
        },
        "risk": {k: v for k, v in state.snapshot["risk"].items() if k != "max_entries_per_day"},
        "position": _position(session, state),
    }
    settings = state.deps.llm_settings
    ledger = DbLedger(
        sessions=ctx.sessions,
        clock=state.deps.clock,
        budget=Budget(
            execution_tokens=settings.llm_execution_max_tokens,
            execution_cost=settings.llm_execution_max_cost,
            execution_seconds=settings.llm_execution_max_seconds,
            daily_cost=settings.llm_daily_max_cost,
        ),
        prices=PriceTable.from_settings(settings.llm_prices, settings.llm_default_price),
        provider=provider,
        execution_id=ctx.execution_id,
        cache_on=settings.llm_cache == "on" or state.deps.llm_cache_sessions is not None,
        cache_sessions=state.deps.llm_cache_sessions,
        run_cap=state.deps.llm_run_cap,
        secrets=tuple(
            key.get_secret_value() for key in (settings.openai_api_key, settings.anthropic_api_key) if key
        ),
    )
    return dataclasses.replace(
        request,
        templates=templates,
        variables=build_variables(request, context),
        chart_png=_ChartPngs(
            state.deps.chart_store, {ref.timeframe: ref.store_key for ref in request.charts}
        ),
        mode=mode,
        model=model,
        ledger=ledger,
    )


class _ChartPngs(Mapping[str, bytes]):
    """The charts' PNG bytes by timeframe, each read from the chart store when first asked for.

    A call answered from the cache is keyed by the charts' sha256 and never needs the bytes.
    """

    def __init__(self, store: ChartStore, keys: dict[str, str]) -> None:
        self._store, self._keys = store, keys
        self._read: dict[str, bytes] = {}

    def __getitem__(self, timeframe: str) -> bytes:
        if timeframe not in self._read:
            self._read[timeframe] = self._store.get(self._keys[timeframe])
        return self._read[timeframe]

    def __contains__(self, timeframe: object) -> bool:
        return timeframe in self._keys  # Mapping's own would read the bytes to find out

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def _record_in_snapshot(
    session: Session,
    execution_id: int,
    mode: str,
    model: str | None,
    templates: dict[str, Any],
    *,
    pinned: dict[str, Any],
) -> None:
    execution = session.get(StrategyExecution, execution_id)
    if execution is None:
        return
    execution.config_snapshot = {
        **(execution.config_snapshot or {}),
        "llm": {
            "analysis_mode": mode,
            "model": model,
            "prompt_follows": "pinned" if pinned.get("prompt_version_id") else "latest",
            "prompts": {
                role: {"template": t.template, "version": t.version, "version_id": t.version_id}
                for role, t in templates.items()
            },
        },
    }


def _position(session: Session, state: RunState) -> dict[str, Any] | None:
    if state.handle is None or state.contract is None:
        return None
    row = session.scalars(
        select(Position).where(
            Position.account_id == state.handle.account_id,
            Position.strategy_id == state.snapshot["id"],
            Position.conid == state.contract.conid,
            Position.status == PositionStatus.OPEN,
        )
    ).first()
    if row is None:
        return None
    return {
        "quantity": str(row.quantity),
        "avg_cost": str(row.avg_cost),
        "stop": None if row.stop_price is None else str(row.stop_price),
        "target": None if row.target_price is None else str(row.target_price),
        "opened_at": row.opened_at.isoformat() if row.opened_at else None,
    }


def calls_for_lineage(
    session: Session, call_ids: Sequence[int], ledger: CallLedger | None = None
) -> list[dict[str, Any]]:
    """Return each call of the execution as lineage shows it: prompt, images, raw answer, tokens, cost.

    When ``ledger`` is the ``DbLedger`` that wrote every one of them, its documents of what it wrote are
    used (the same as the rows read back); otherwise the rows are read.
    """
    if isinstance(ledger, DbLedger):
        written = ledger.written(call_ids)
        if written is not None:
            return written
    rows = session.scalars(select(LlmCall).where(LlmCall.id.in_(call_ids)).order_by(LlmCall.id))
    return [lineage(row) for row in rows]
