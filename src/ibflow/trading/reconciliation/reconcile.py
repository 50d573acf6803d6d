"""Reconciliation of one broker account: at start-up, after the broker session comes back, periodically.

Holds the account lock throughout, so no entry is sent while it runs. In order:

1. rows a crashed sender left behind are settled (``tracking.recover_interrupted``: an ``intent`` was never
   sent and is rejected; a ``submitting`` row may have been and becomes ``submit_unknown``);
2. a tracking sync over a longer look-back, adopting unknown broker orders as ``external``: ambiguous orders
   are settled, missed fills applied (by order reference, or for bracket children by parent and role);
3. positions are compared per (account, contract): the sum over ibflow's strategies against the broker's.
   A difference opens a ``reconcile_mismatches`` row and a ``reconcile.mismatch`` event; entries on that
   contract are blocked (risk's ``RECONCILE_MISMATCH``) until a later run finds the quantities equal again
   and sets ``resolved_at``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.brokers.base import Broker, BrokerPosition
from ibflow.core.clock import Clock
from ibflow.core.errors import retry_reads
from ibflow.core.ids import AccountId
from ibflow.core.money import ZERO
from ibflow.core.settings import BrokerSettings, RiskSettings
from ibflow.db.engine import SessionFactory
from ibflow.db.events.outbox import record_event
from ibflow.db.locks import NamedLocks
from ibflow.db.models import Position, ReconcileMismatch
from ibflow.trading.lifecycle.orders import hold_account
from ibflow.trading.lifecycle.submission import resend_unsent
from ibflow.trading.lifecycle.tracking import SyncReport, envs, recover_interrupted, sync_orders

RECONCILE_LOOKBACK = timedelta(days=7)


@dataclass
class ReconcileReport:
    """What one reconciliation found."""

    recovered: list[str] = field(default_factory=list)
    resent: list[str] = field(default_factory=list)
    sync: SyncReport = field(default_factory=SyncReport)
    mismatched: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)


def reconcile(
    sessions: SessionFactory,
    *,
    broker: Broker,
    locks: NamedLocks,
    account_id: str,
    clock: Clock,
    risk_env: RiskSettings | None = None,
    broker_env: BrokerSettings | None = None,
    lookback: timedelta = RECONCILE_LOOKBACK,
) -> ReconcileReport:
    """Settle, re-apply, adopt and compare one account against its broker (see the module doc)."""
    report = ReconcileReport()
    with hold_account(locks, account_id):
        with sessions() as session:
            report.recovered = recover_interrupted(session, account_id=account_id, at=clock.now())
            session.commit()
        report.sync = sync_orders(
            sessions,
            broker=broker,
            locks=locks,
            account_id=account_id,
            clock=clock,
            risk_env=risk_env,
            broker_env=broker_env,
            lookback=lookback,
            adopt_external=True,
        )
        held = retry_reads()(broker.positions)(AccountId(account_id))
        with sessions() as session:
            report.mismatched, report.resolved = compare_positions(
                session, account_id=account_id, broker_positions=held, at=clock.now()
            )
            session.commit()
        resolved_risk, resolved_broker = envs(risk_env, broker_env)
        report.resent = resend_unsent(
            sessions,
            broker=broker,
            account_id=account_id,
            clock=clock,
            risk_env=resolved_risk,
            broker_env=resolved_broker,
        )
    return report


def compare_positions(
    session: Session, *, account_id: str, broker_positions: list[BrokerPosition], at: datetime
) -> tuple[list[int], list[int]]:
    """Record mismatches per contract and resolve the ones that agree again; return both lists of conids."""
    ours = _ibflow_quantities(session, account_id)
    theirs: dict[int, Decimal] = {}
    for held in broker_positions:
        theirs[held.conid] = theirs.get(held.conid, ZERO) + held.quantity
    open_rows = {
        row.conid: row
        for row in session.scalars(
            select(ReconcileMismatch).where(
                ReconcileMismatch.account_id == account_id, ReconcileMismatch.resolved_at.is_(None)
            )
        )
    }
    mismatched: list[int] = []
    resolved: list[int] = []
    for conid in sorted(set(ours) | set(theirs) | set(open_rows)):
        mine, broker_has = ours.get(conid, ZERO), theirs.get(conid, ZERO)
        row = open_rows.get(conid)
        if mine != broker_has:
            mismatched.append(conid)
            _flag(session, account_id, conid, mine=mine, broker_has=broker_has, row=row, at=at)
        elif row is not None:
            row.resolved_at = at
            resolved.append(conid)
            record_event(
                session,
                kind="reconcile.resolved",
                at=at,
                entity_type="reconcile_mismatch",
                entity_id=row.id,
                account_id=account_id,
                message=f"contract {conid}: ibflow and the broker agree again ({mine.normalize():f})",
            )
    return mismatched, resolved


def _ibflow_quantities(session: Session, account_id: str) -> dict[int, Decimal]:
    totals: dict[int, Decimal] = {}
    for conid, quantity in session.execute(
        select(Position.conid, Position.quantity).where(Position.account_id == account_id)
    ).all():
        # Summed here, never in SQL: quantities are text on SQLite.
        totals[conid] = totals.get(conid, ZERO) + quantity
    return {conid: total for conid, total in totals.items() if total != 0}


def _flag(
    session: Session,
    account_id: str,
    conid: int,
    *,
    mine: Decimal,
    broker_has: Decimal,
    row: ReconcileMismatch | None,
    at: datetime,
) -> None:
    detail = f"ibflow holds {mine.normalize():f}, the broker {broker_has.normalize():f}"
    if row is not None and row.ibflow_quantity == mine and row.broker_quantity == broker_has:
        return
    if row is None:
        row = ReconcileMismatch(account_id=account_id, conid=conid, detected_at=at)
        session.add(row)
    row.ibflow_quantity, row.broker_quantity, row.detail = mine, broker_has, detail
    session.flush()
    record_event(
        session,
        kind="reconcile.mismatch",
        at=at,
        severity="error",
        entity_type="reconcile_mismatch",
        entity_id=row.id,
        account_id=account_id,
        message=f"contract {conid}: {detail}; no new entries on it until they agree",
        payload={"conid": conid, "ibflow": str(mine), "broker": str(broker_has)},
    )
