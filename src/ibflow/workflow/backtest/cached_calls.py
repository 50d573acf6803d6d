"""Which of a backtest's LLM calls the response cache answers, known before the run.

A call's cache key hashes the rendered prompt and the chart images of its execution time, which are known
only once that execution has run. So the calls an earlier backtest recorded (each backtest's own database
keeps every call's cache key) count as answered from the cache when that backtest made the same requests:
the same ibflow version, strategy file (analyst, model, prompt text, indicators, timeframes, risk), prompt
templates and signal schema, data source, starting cash, the LLM settings that enter a request (models,
structured mode, output cap, temperature) and chart size (``request_basis``, kept in its summary as
``llm_requests``), and the same first session. Its executions replay identically as long as every answer
comes from the cache, so the calls of its leading executions whose decision times match this run's, whose
every call recorded a key and no error, and whose keys the shared response cache still holds, cost nothing;
every later execution's calls count as new. It assumes the bars of a data source do not change between the
runs (a CSV edited in place would not be noticed; the cache then answers only what still matches, and the
run makes the rest as new calls).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow import __version__
from ibflow.core.clock import Clock
from ibflow.core.ids import StrategyId
from ibflow.core.settings import ChartSettings, LlmSettings
from ibflow.db.engine import SessionFactory, make_engine, read_session_factory
from ibflow.db.models.backtests import Backtest
from ibflow.db.models.executions import LlmCall, LlmResponse, StrategyExecution
from ibflow.db.models.strategies import Strategy
from ibflow.db.states import ExecutionStatus
from ibflow.llm.prompts import store as prompts
from ibflow.llm.schema import SIGNAL_JSON_SCHEMA

LLM_ANALYSTS = ("openai", "anthropic")


def request_basis(
    session: Session,
    strategy_id: StrategyId,
    copy_text: str,
    *,
    source: str,
    cash: Decimal,
    llm: LlmSettings,
    charts: ChartSettings,
    clock: Clock,
) -> str | None:
    """A hash of what the installed strategy's LLM requests depend on besides the bars and the execution
    times (``session``: the backtest's database); None for an offline analyst."""
    strategy = session.get(Strategy, strategy_id)
    if strategy is None or strategy.analyst not in LLM_ANALYSTS:
        return None
    templates = prompts.resolve(
        session, template_id=strategy.prompt_template_id, version_id=strategy.prompt_version_id, clock=clock
    )
    document = {
        "ibflow": __version__,  # how prompts are rendered and charts drawn
        "strategy": copy_text,
        "templates": {role: text.body for role, text in sorted(templates.items())},
        "schema": SIGNAL_JSON_SCHEMA,
        "data": source,
        "cash": str(cash),
        "models": [llm.openai_model, llm.anthropic_model],
        "structured": [llm.openai_structured_output, llm.anthropic_structured_output],
        "max_output_tokens": llm.llm_max_output_tokens,
        "temperature": llm.llm_temperature,
        "chart": [charts.chart_width_px, charts.chart_height_px],
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()


def answered_ahead(
    main: SessionFactory, cache: SessionFactory, basis: str, times: Sequence[datetime]
) -> tuple[int, int]:
    """How many leading executions at ``times`` an earlier backtest of ``basis`` answered wholly from what
    the response ``cache`` holds, and their calls (the best earlier backtest's; ``(0, 0)`` for none)."""
    with main() as session:
        earlier = [
            Path(path)
            for path, summary in session.execute(
                select(Backtest.database_path, Backtest.summary).order_by(Backtest.id.desc())
            )
            if summary.get("llm_requests") == basis
        ]
    best = (0, 0)
    for database in earlier:
        if database.exists():
            best = max(best, _answered_by(database, cache, times))
    return best


def _answered_by(database: Path, cache: SessionFactory, times: Sequence[datetime]) -> tuple[int, int]:
    engine = make_engine(f"sqlite:///{database.as_posix()}")
    try:
        with read_session_factory(engine)() as session:
            ran = session.execute(
                select(StrategyExecution.id, StrategyExecution.scheduled_for, StrategyExecution.status)
                .order_by(StrategyExecution.id)
                .limit(len(times))
            ).all()
            rows = session.execute(
                select(LlmCall.execution_id, LlmCall.cache_key, LlmCall.error).where(
                    LlmCall.provider.in_(LLM_ANALYSTS)
                )
            ).all()
    finally:
        engine.dispose()
    keys: dict[int | None, list[str | None]] = {}
    for execution_id, key, error in rows:
        keys.setdefault(execution_id, []).append(None if error else key)
    leading: list[list[str]] = []
    for (execution_id, at, status), expected in zip(ran, times, strict=False):
        made = keys.get(execution_id, [])
        if at != expected or status != ExecutionStatus.SUCCEEDED or not made or None in made:
            break
        leading.append([key for key in made if key is not None])
    held = _held(cache, {key for found in leading for key in found})
    executions = calls = 0
    for found in leading:
        if not held.issuperset(found):
            break
        executions, calls = executions + 1, calls + len(found)
    return executions, calls


def _held(cache: SessionFactory, keys: set[str]) -> set[str]:
    """The ``keys`` the response cache holds."""
    held: set[str] = set()
    ordered = sorted(keys)
    with cache() as session:
        for start in range(0, len(ordered), 500):
            chunk = ordered[start : start + 500]
            held.update(
                session.scalars(select(LlmResponse.cache_key).where(LlmResponse.cache_key.in_(chunk)))
            )
    return held
