"""Retention: drop the charts, LLM calls and lineage of old executions that produced no order.

An execution that produced an order keeps everything forever (it explains a trade). The execution row
itself and its signal always stay, so history and statistics of signals survive pruning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, exists, select

from ibflow.charts.store import ChartStore
from ibflow.core.clock import Clock
from ibflow.db.engine import SessionFactory
from ibflow.db.models.executions import Chart, LlmCall, StrategyExecution, WorkflowLineage
from ibflow.db.models.orders import Order

log = logging.getLogger(__name__)
BATCH = 500


@dataclass(frozen=True)
class PruneReport:
    """What was removed."""

    executions: int
    charts: int


def prune(sessions: SessionFactory, *, store: ChartStore, clock: Clock, keep: timedelta) -> PruneReport:
    """Remove details of executions finished before ``now - keep`` that produced no order."""
    cutoff = clock.now() - keep
    with sessions() as session:
        ids = list(
            session.scalars(
                select(StrategyExecution.id)
                .where(
                    StrategyExecution.finished_at < cutoff,
                    ~exists().where(Order.execution_id == StrategyExecution.id),
                    exists().where(WorkflowLineage.execution_id == StrategyExecution.id),
                )
                .limit(BATCH)
            )
        )
        if not ids:
            return PruneReport(0, 0)
        charts = session.scalars(select(Chart).where(Chart.execution_id.in_(ids))).all()
        for chart in charts:
            store.delete(chart.store_key)
        session.execute(delete(Chart).where(Chart.execution_id.in_(ids)))
        session.execute(delete(LlmCall).where(LlmCall.execution_id.in_(ids)))
        session.execute(delete(WorkflowLineage).where(WorkflowLineage.execution_id.in_(ids)))
        session.commit()
    log.info(
        "pruned %d execution(s) and %d chart(s) older than %s", len(ids), len(charts), cutoff.isoformat()
    )
    return PruneReport(len(ids), len(charts))
