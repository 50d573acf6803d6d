"""The executor: one execution of a strategy runs the 11 named steps and records each one's lineage."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ibflow.core.errors import NotFound, ValidationError
from ibflow.core.ids import ExecutionId, StrategyId
from ibflow.core.log_context import log_context
from ibflow.db.events.outbox import record_event
from ibflow.db.models.executions import StrategyExecution
from ibflow.db.models.strategies import Strategy
from ibflow.db.states import ExecutionStatus, ExecutionTrigger
from ibflow.workflow.deps import WorkflowDeps
from ibflow.workflow.engine import RunOutcome, Step, run_steps
from ibflow.workflow.lineage import STEP_NAMES
from ibflow.workflow.outcome import execution_outcome
from ibflow.workflow.runtime.recovery import interrupt, owner_id
from ibflow.workflow.steps.data import (
    RunState,
    check_broker,
    compute_indicators,
    fetch_market_data,
    load_strategy,
    render_charts,
    resolve_contract,
)
from ibflow.workflow.steps.decide import analyze, decide_signal, size_and_check_risk
from ibflow.workflow.steps.trade import place_orders, record_portfolio

log = logging.getLogger(__name__)

END_RETRY_PAUSES_S = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
"""Pauses between tries to end a run cut by an error (a PostgreSQL restart takes seconds)."""

STEPS: tuple[Step[RunState], ...] = (
    Step("load_strategy", load_strategy),
    Step("check_broker", check_broker),
    Step("resolve_contract", resolve_contract),
    Step("fetch_market_data", fetch_market_data),
    Step("compute_indicators", compute_indicators),
    Step("render_charts", render_charts),
    Step("analyze", analyze),
    Step("decide_signal", decide_signal),
    Step("size_and_check_risk", size_and_check_risk),
    Step("place_orders", place_orders),
    Step("record_portfolio", record_portfolio),
)
if tuple(step.name for step in STEPS) != STEP_NAMES:  # the names key lineage; keep them in one place
    raise RuntimeError("executor steps and STEP_NAMES disagree")


@dataclass(frozen=True)
class ExecutionReport:
    """How an execution ended."""

    execution_id: ExecutionId
    status: ExecutionStatus
    outcome: RunOutcome | None
    summary: dict[str, Any]


class Executor:
    """Creates and runs executions."""

    def __init__(self, deps: WorkflowDeps, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._deps = deps
        self._sleep = sleep

    def create_manual(self, strategy_id: StrategyId) -> ExecutionId:
        """Queue a manual execution of a strategy now; return its id."""
        with self._deps.sessions() as session:
            if session.get(Strategy, strategy_id) is None:
                raise NotFound(f"strategy {strategy_id} does not exist")
            running = session.scalars(
                select(StrategyExecution.id).where(
                    StrategyExecution.strategy_id == strategy_id,
                    StrategyExecution.status == ExecutionStatus.RUNNING,
                )
            ).first()
            if running is not None:  # at most one running execution per strategy, manual runs included
                raise ValidationError(
                    f"strategy {strategy_id} is running now (execution {running}); try again when it ends",
                    {"strategy": "already running"},
                )
            execution = StrategyExecution(
                strategy_id=strategy_id,
                trigger=ExecutionTrigger.MANUAL,
                status=ExecutionStatus.QUEUED,
                created_at=self._deps.clock.now(),
            )
            session.add(execution)
            session.commit()
            return ExecutionId(execution.id)

    def run(self, execution_id: ExecutionId) -> ExecutionReport:
        """Run a queued execution through all 11 steps; another runner's claimed execution is left alone.

        Every log record emitted meanwhile carries the execution's id and its strategy's id and name.
        """
        with log_context(execution_id=execution_id):
            if not self._claim(execution_id):
                log.info("execution %s is not queued any more; not running it", execution_id)
                return ExecutionReport(execution_id, self._status(execution_id), None, {})
            try:
                strategy_id, name = self._strategy_of(execution_id)
                with log_context(strategy_id=strategy_id, strategy=name):
                    return self._run_claimed(execution_id)
            except Exception as exc:  # most often the database went away mid-run: end the run once it is back
                log.exception("execution %s stopped on an error it could not record", execution_id)
                self._end_after_crash(execution_id, exc)
                raise

    def _strategy_of(self, execution_id: ExecutionId) -> tuple[int, str]:
        with self._deps.sessions() as session:
            row = session.execute(
                select(Strategy.id, Strategy.name)
                .join(StrategyExecution, StrategyExecution.strategy_id == Strategy.id)
                .where(StrategyExecution.id == execution_id)
            ).one()
            return int(row.id), str(row.name)

    def _run_claimed(self, execution_id: ExecutionId) -> ExecutionReport:
        state = RunState(deps=self._deps, as_of=self._deps.clock.now())
        outcome = run_steps(
            STEPS,
            execution_id=execution_id,
            state=state,
            sessions=self._deps.sessions,
            clock=self._deps.clock,
        )
        summary = {**state.summary, "stop_reason": outcome.stop_reason}
        status = ExecutionStatus.FAILED if outcome.failed_step else ExecutionStatus.SUCCEEDED
        with self._deps.sessions() as session:
            execution = session.get(StrategyExecution, execution_id)
            if execution is not None:
                execution.status = status
                execution.finished_at = self._deps.clock.now()
                execution.error = outcome.error
                execution.summary = summary
                _finished_event(session, execution, outcome, summary)
            session.commit()
        return ExecutionReport(execution_id, status, outcome, summary)

    def _end_after_crash(self, execution_id: ExecutionId, exc: Exception) -> None:
        """Mark the run interrupted (its missing rows ``skipped: interrupted``), retrying while the database
        is away; a run left ``running`` would block its strategy. A longer outage is the reaper's to end."""
        why = f"stopped on an error it could not record: {type(exc).__name__}: {exc}"[:500]
        for attempt, pause_s in enumerate(END_RETRY_PAUSES_S, start=1):
            try:
                with self._deps.sessions() as session:
                    execution = session.get(StrategyExecution, execution_id)
                    if execution is not None and execution.status is ExecutionStatus.RUNNING:
                        interrupt(session, execution, self._deps.clock.now(), why=why)
                    session.commit()
                return
            except Exception as again:
                log.warning("could not end execution %s yet (%d): %s", execution_id, attempt, again)
                if attempt < len(END_RETRY_PAUSES_S):
                    self._sleep(pause_s)

    def _claim(self, execution_id: ExecutionId) -> bool:
        with self._deps.sessions() as session:
            claimed = session.execute(
                update(StrategyExecution)
                .where(
                    StrategyExecution.id == execution_id, StrategyExecution.status == ExecutionStatus.QUEUED
                )
                .values(status=ExecutionStatus.RUNNING, started_at=self._deps.clock.now(), owner=owner_id())
            )
            session.commit()
            return bool(getattr(claimed, "rowcount", 0) == 1)

    def _status(self, execution_id: ExecutionId) -> ExecutionStatus:
        with self._deps.sessions() as session:
            execution = session.get(StrategyExecution, execution_id)
            if execution is None:
                raise NotFound(f"execution {execution_id} does not exist")
            return execution.status


def _finished_event(
    session: Session, execution: StrategyExecution, outcome: RunOutcome, summary: dict[str, Any]
) -> None:
    strategy = session.get(Strategy, execution.strategy_id)
    name = strategy.name if strategy is not None else str(execution.strategy_id)
    result = execution_outcome(execution.status, summary)
    risk = summary.get("risk") if isinstance(summary.get("risk"), dict) else None
    reason = outcome.error or (f"risk: {risk['reason']}" if result == "blocked" and risk else None)
    reason = reason or summary.get("stop_reason")
    started, finished = execution.started_at, execution.finished_at
    duration_ms = round((finished - started).total_seconds() * 1000) if started and finished else 0
    action = (summary.get("signal") or {}).get("action")
    orders = len(summary.get("orders") or [])
    said = {"ordered": f"{orders} order(s) placed", "no_order": "no order", "blocked": "blocked"}
    record_event(
        session,
        kind="execution.finished",
        at=finished or started or execution.created_at,
        severity="error" if result == "failed" else "info",
        entity_type="execution",
        entity_id=execution.id,
        execution_id=execution.id,
        message=f"{name}: {action or '-'}, {said.get(result, 'failed')}"
        + (f" ({reason})" if reason else "")
        + f" in {duration_ms / 1000:.1f}s",
        payload={
            "strategy_id": execution.strategy_id,
            "strategy": name,
            "status": execution.status.value,
            "outcome": result,
            "action": action,
            "reason": reason,
            "duration_ms": duration_ms,
            "trigger": execution.trigger.value,
        },
    )
