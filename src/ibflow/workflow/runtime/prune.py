"""Retention: drop what old executions without an order leave behind, and give SQLite the space back.

An execution that produced an order keeps everything forever (it explains a trade). One without an order
loses its charts after ``chart_keep`` (hours: they are most of the bytes and explain nothing that its
lineage and signal do not), and its LLM calls and lineage after ``keep`` (days). Charts are stored by
content (one stored chart may serve many executions): pruning deletes a run's chart rows, and a stored
chart only once no remaining row references its key. The execution row itself and its signal always stay,
so history and statistics of signals survive pruning.

Space: deleted rows leave free pages inside the SQLite file, which new rows reuse but the file never gives
back. After a prune that deleted rows, ``give_back_space`` runs ``PRAGMA incremental_vacuum``: it moves no
data and only truncates free pages, so it holds the write lock for milliseconds and is safe while executions
run (they wait on the busy timeout). Incremental vacuum needs ``auto_vacuum=INCREMENTAL``, which a file
created without it gets from one full ``VACUUM`` at the first prune that frees pages (a one-off rewrite of
the file; SQLite cannot switch the mode otherwise). PostgreSQL reclaims space with its own autovacuum.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, exists, select
from sqlalchemy.orm import Session

from ibflow.charts.store import WRITE_LOCK, ChartStore
from ibflow.core.clock import Clock
from ibflow.db.engine import SessionFactory
from ibflow.db.locks import lock_for_transaction
from ibflow.db.models.executions import Chart, LlmCall, StrategyExecution, WorkflowLineage
from ibflow.db.models.orders import Order

log = logging.getLogger(__name__)
BATCH = 500
MAX_BATCHES = 20  # per run of the job: a backlog is worked off over a few runs, never in one long lock
DEFAULT_CHART_KEEP = timedelta(hours=6)
_INCREMENTAL = 2  # PRAGMA auto_vacuum value


@dataclass(frozen=True)
class PruneReport:
    """What was removed: executions whose lineage went, charts, and SQLite bytes given back."""

    executions: int
    charts: int
    bytes_freed: int = 0


def prune(
    sessions: SessionFactory,
    *,
    store: ChartStore,
    clock: Clock,
    keep: timedelta,
    chart_keep: timedelta = DEFAULT_CHART_KEEP,
) -> PruneReport:
    """Remove charts of no-order executions older than ``chart_keep``, their lineage after ``keep``."""
    now = clock.now()
    charts = executions = 0
    for _ in range(MAX_BATCHES):
        ids, removed = _prune_charts(sessions, store, now - min(chart_keep, keep))
        charts += removed
        if ids < BATCH:
            break
    for _ in range(MAX_BATCHES):
        ids, removed = _prune_details(sessions, store, now - keep)
        executions, charts = executions + ids, charts + removed
        if ids < BATCH:
            break
    freed = give_back_space(sessions) if charts or executions else 0
    if charts or executions:
        log.info(
            "pruned the charts of no-order runs before %s, the lineage of %d run(s) before %s: %d chart(s), "
            "%d byte(s) given back",
            (now - chart_keep).isoformat(),
            executions,
            (now - keep).isoformat(),
            charts,
            freed,
        )
    return PruneReport(executions, charts, freed)


def _delete_charts(session: Session, store: ChartStore, ids: list[int]) -> int:
    """Delete the chart rows of ``ids``, then each stored chart no other row references (keys are shared).

    Takes ``WRITE_LOCK`` exclusively until the transaction that calls it commits: a render storing a chart
    holds it shared until its row is committed, so a key is either seen referenced here or stored again
    after this commit.
    """
    charts = session.execute(select(Chart.id, Chart.store_key).where(Chart.execution_id.in_(ids))).all()
    keys = {key for _, key in charts}
    session.execute(
        delete(Chart).where(Chart.execution_id.in_(ids))
    )  # first: on SQLite the write is the lock
    lock_for_transaction(session, WRITE_LOCK)
    kept = set(session.scalars(select(Chart.store_key).where(Chart.store_key.in_(keys)).distinct()))
    for key in sorted(keys - kept):
        store.delete(key)
    return len(charts)


def _prune_charts(sessions: SessionFactory, store: ChartStore, cutoff: datetime) -> tuple[int, int]:
    with sessions() as session:
        ids = list(
            session.scalars(
                select(StrategyExecution.id)
                .where(
                    StrategyExecution.finished_at < cutoff,
                    ~exists().where(Order.execution_id == StrategyExecution.id),
                    exists().where(Chart.execution_id == StrategyExecution.id),
                )
                .limit(BATCH)
            )
        )
        if not ids:
            return 0, 0
        removed = _delete_charts(session, store, ids)
        session.commit()
    return len(ids), removed


def _prune_details(sessions: SessionFactory, store: ChartStore, cutoff: datetime) -> tuple[int, int]:
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
            return 0, 0
        removed = _delete_charts(session, store, ids)
        session.execute(delete(LlmCall).where(LlmCall.execution_id.in_(ids)))
        session.execute(delete(WorkflowLineage).where(WorkflowLineage.execution_id.in_(ids)))
        session.commit()
    return len(ids), removed


def _incremental_vacuum(cursor: Any) -> None:
    # Python's sqlite3 steps a statement without result columns once, and each step of incremental_vacuum
    # frees one page: so one statement per free page, all in one short write transaction.
    free = int(cursor.execute("PRAGMA freelist_count").fetchone()[0])
    cursor.execute("BEGIN IMMEDIATE")
    try:
        for _ in range(free):
            cursor.execute("PRAGMA incremental_vacuum(1)")
    except BaseException:
        cursor.execute("ROLLBACK")
        raise
    cursor.execute("COMMIT")


def give_back_space(sessions: SessionFactory) -> int:
    """Truncate the SQLite file's free pages (see the module docstring); return the bytes given back."""
    with sessions() as session:
        bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    if engine.dialect.name != "sqlite":
        return 0
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        page_size = cursor.execute("PRAGMA page_size").fetchone()[0]
        before = cursor.execute("PRAGMA page_count").fetchone()[0]
        if cursor.execute("PRAGMA auto_vacuum").fetchone()[0] != _INCREMENTAL:
            cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
            cursor.execute("VACUUM")  # the one-off switch; outside any transaction (autocommit connection)
        else:
            _incremental_vacuum(cursor)
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        after = cursor.execute("PRAGMA page_count").fetchone()[0]
        cursor.close()
    finally:
        raw.close()
    return max(0, int(before - after) * int(page_size))
