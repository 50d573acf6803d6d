"""Bring an account's books up to now: match its open orders over the path since the last evaluation.

The caller holds the account lock. The window is ``[evaluated_until, now]``; afterwards the watermark moves
to ``now``. Because matching only depends on the path and on what each order stored (trigger time, last
fill minute, activation time), splitting a stretch of time into more or fewer evaluations gives the same
fills. A clock behind the watermark (another process's clock, a test moving back) evaluates nothing.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, or_, select
from sqlalchemy.orm import Session

from ibflow.brokers.paper.books import record_fill
from ibflow.brokers.paper.engine import SimOrder, replay
from ibflow.brokers.paper.market.prices import SimulatedMarket
from ibflow.brokers.paper.matching.fills import FillPoint, OrderTerms, Piece
from ibflow.db.models.paper import OPEN_PAPER_STATUSES, PaperAccount, PaperOrder


def evaluate(session: Session, account: PaperAccount, market: SimulatedMarket, now: datetime) -> None:
    """Match the account's open orders over ``[account.evaluated_until, now]`` and book the fills."""
    start = account.evaluated_until
    if now < start:
        return
    groups = _open_groups(session, account)
    pieces: dict[int, list[Piece]] = {}
    moved: list[tuple[int, SimOrder]] = []
    booked: list[tuple[FillPoint, PaperOrder]] = []
    for rows in groups.values():
        conid = rows[0].conid
        if conid not in pieces:
            pieces[conid] = market.pieces(conid, start, now)
        sims = [_to_sim(row, market) for row in rows]
        controls = market.controls
        replay(
            sims,
            pieces[conid],
            start,
            now,
            resize_children=controls.children_follow_fills,
            one_cancels_other=controls.children_cancel_each_other,
        )
        moved.extend(
            (row.id, sim) for row, sim in zip(rows, sims, strict=True) if _changed(row, sim) or sim.fills
        )
    orders = _load(session, [order_id for order_id, _ in moved])  # only what moved, as objects, at once
    for order_id, sim in moved:
        _write_back(orders[order_id], sim, now)
        booked.extend((fill, orders[order_id]) for fill in sim.fills)
    booked.sort(key=lambda item: (item[0].at, item[1].id))
    for fill, order in booked:
        record_fill(session, account, order, fill, now)
    account.evaluated_until = now
    account.updated_at = now
    session.flush()


_MATCHED = (
    PaperOrder.id,
    PaperOrder.parent_id,
    PaperOrder.leg,
    PaperOrder.conid,
    PaperOrder.side,
    PaperOrder.order_type,
    PaperOrder.limit_price,
    PaperOrder.stop_price,
    PaperOrder.quantity,
    PaperOrder.filled_quantity,
    PaperOrder.status,
    PaperOrder.active_from,
    PaperOrder.triggered_at,
    PaperOrder.last_fill_minute,
    PaperOrder.expires_at,
    PaperOrder.cancel_requested_at,
    PaperOrder.ended_at,
    PaperOrder.reason,
)
"""What matching reads of an order: read as plain rows, since an account may have hundreds open and each
read of the books matches them all; an order that moved is then loaded whole to be written."""


def _open_groups(session: Session, account: PaperAccount) -> dict[int, list[Row[Any]]]:
    open_rows = session.execute(
        select(PaperOrder.id, PaperOrder.parent_id).where(
            PaperOrder.paper_account_id == account.id, PaperOrder.status.in_(OPEN_PAPER_STATUSES)
        )
    )
    roots = {parent_id or order_id for order_id, parent_id in open_rows}
    if not roots:
        return {}
    rows = session.execute(
        select(*_MATCHED)
        .where(or_(PaperOrder.id.in_(roots), PaperOrder.parent_id.in_(roots)))
        .order_by(PaperOrder.id)
    )
    groups: dict[int, list[Row[Any]]] = defaultdict(list)
    for row in rows:
        groups[row.parent_id or row.id].append(cast("Row[Any]", row))
    return groups


def _load(session: Session, order_ids: list[int]) -> dict[int, PaperOrder]:
    if not order_ids:
        return {}
    rows = session.scalars(select(PaperOrder).where(PaperOrder.id.in_(order_ids)))
    return {row.id: row for row in rows}


def _to_sim(row: Row[Any], market: SimulatedMarket) -> SimOrder:
    return SimOrder(
        key=row.id,
        leg=row.leg,
        terms=OrderTerms(
            side=row.side,
            order_type=row.order_type,
            limit_price=row.limit_price,
            stop_price=row.stop_price,
            tick=market.instrument(row.conid).min_tick,
        ),
        quantity=row.quantity,
        filled=row.filled_quantity,
        status=row.status,
        active_from=row.active_from,
        triggered_at=row.triggered_at,
        last_fill_minute=row.last_fill_minute,
        expires_at=row.expires_at,
        cancel_at=row.cancel_requested_at,
        ended_at=row.ended_at,
        reason=row.reason,
    )


def _changed(row: Row[Any], sim: SimOrder) -> bool:
    return bool(
        row.status is not sim.status
        or row.quantity != sim.quantity
        or row.active_from != sim.active_from
        or row.triggered_at != sim.triggered_at
        or row.last_fill_minute != sim.last_fill_minute
    )


def _write_back(row: PaperOrder, sim: SimOrder, now: datetime) -> None:
    row.status = sim.status
    row.quantity = sim.quantity
    row.active_from = sim.active_from
    row.triggered_at = sim.triggered_at
    row.last_fill_minute = sim.last_fill_minute
    row.ended_at = sim.ended_at
    row.reason = sim.reason
    row.updated_at = now
