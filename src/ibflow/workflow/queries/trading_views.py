"""Read views of positions, orders, trades and signals for the CLI, the API and the pages.

Each view is a frozen dataclass with ``as_dict`` (JSON-ready: exact decimals as strings, times as ISO 8601
UTC) and the contract's tick, so a caller shows prices at the tick. Reads only ibflow's database: market
prices come from the newest portfolio snapshot (``ibflow serve`` takes one every few minutes), and every view
that uses them says when that was.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.core.display import DEFAULT_TICK, decimal_text
from ibflow.db.models.executions import TradingSignal
from ibflow.db.models.market import Symbol
from ibflow.db.models.orders import Order
from ibflow.db.models.positions import PortfolioSnapshot, Position, Trade
from ibflow.db.models.strategies import PromptTemplate, PromptVersion, Strategy
from ibflow.db.states import LIVE_ORDER_STATES, OrderRole, OrderState, PositionStatus, SignalAction


def jsonable(value: Any) -> Any:
    """Turn a view's field into JSON: Decimal -> str, datetime -> ISO, enums -> value, lists recursively."""
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "value") and not isinstance(value, int | str):
        return value.value
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    return value


class View:
    """Mixin: ``as_dict`` for frozen dataclass views."""

    def as_dict(self) -> dict[str, Any]:
        """Return the view as JSON-ready values."""
        return {f.name: jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


def ticks(session: Session, conids: Iterable[int]) -> dict[int, Decimal]:
    """Return each contract's minimum tick (0.01 when the contract was never looked up)."""
    wanted = set(conids)
    if not wanted:
        return {}
    rows = session.execute(select(Symbol.conid, Symbol.min_tick).where(Symbol.conid.in_(wanted))).all()
    found = {int(conid): tick for conid, tick in rows}
    return {conid: found.get(conid, DEFAULT_TICK) for conid in wanted}


def strategy_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """Return the names of the strategies ``ids`` names."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(Strategy.id, Strategy.name).where(Strategy.id.in_(wanted)))
    return dict(rows.all())


def latest_snapshot(session: Session, account_id: str | None = None) -> PortfolioSnapshot | None:
    """Return the newest portfolio snapshot (of ``account_id``, or of any account)."""
    query = select(PortfolioSnapshot).order_by(PortfolioSnapshot.taken_at.desc(), PortfolioSnapshot.id.desc())
    if account_id is not None:
        query = query.where(PortfolioSnapshot.account_id == account_id)
    return session.scalars(query.limit(1)).first()


@dataclass(frozen=True)
class PositionView(View):
    """An open position with its protection and its value at the last snapshot's market price."""

    id: int
    account_id: str
    strategy: str
    symbol: str
    conid: int
    quantity: Decimal
    avg_cost: Decimal
    stop: Decimal | None
    target: Decimal | None
    market_price: Decimal | None
    unrealized_pnl: Decimal | None
    priced_at: datetime | None
    opened_at: datetime | None
    tick: Decimal


def open_positions(session: Session, *, strategy_id: int | None = None) -> list[PositionView]:
    """Return every open position, oldest first."""
    query = select(Position).where(Position.status == PositionStatus.OPEN).order_by(Position.id)
    if strategy_id is not None:
        query = query.where(Position.strategy_id == strategy_id)
    rows = list(session.scalars(query))
    names = strategy_names(session, (row.strategy_id for row in rows))
    tick_of = ticks(session, (row.conid for row in rows))
    guards = live_protection(session, [row.id for row in rows])
    prices: dict[tuple[str, int], tuple[Decimal, datetime]] = {}
    for account in {row.account_id for row in rows}:
        snapshot = latest_snapshot(session, account)
        for held in (snapshot.positions or []) if snapshot is not None else []:
            prices[(account, int(held["conid"]))] = (Decimal(held["market_price"]), snapshot.taken_at)  # type: ignore[union-attr]
    views = []
    for row in rows:
        price, at = prices.get((row.account_id, row.conid), (None, None))
        views.append(
            PositionView(
                id=row.id,
                account_id=row.account_id,
                strategy=names.get(row.strategy_id or 0, ""),
                symbol=row.symbol,
                conid=row.conid,
                quantity=row.quantity,
                avg_cost=row.avg_cost,
                stop=guards.get((row.id, OrderRole.STOP)),
                target=guards.get((row.id, OrderRole.TARGET)),
                market_price=price,
                unrealized_pnl=None if price is None else (price - row.avg_cost) * row.quantity,
                priced_at=at,
                opened_at=row.opened_at,
                tick=tick_of[row.conid],
            )
        )
    return views


def live_protection(session: Session, position_ids: list[int]) -> dict[tuple[int, OrderRole], Decimal]:
    """Return the price of each position's live stop and target orders, by (position id, role).

    Read from the orders themselves, not from the position's last-checked levels (which the protection
    watch refreshes every 30 s): a stop placed a moment ago shows, and a missing one shows as missing.
    """
    if not position_ids:
        return {}
    rows = session.scalars(
        select(Order)
        .where(
            Order.position_id.in_(position_ids),
            Order.role.in_([OrderRole.STOP, OrderRole.TARGET]),
            Order.state.in_(LIVE_ORDER_STATES - {OrderState.CANCEL_PENDING}),
        )
        .order_by(Order.id)
    )
    found: dict[tuple[int, OrderRole], Decimal] = {}
    for order in rows:
        price = order.stop_price if order.role is OrderRole.STOP else order.limit_price
        if order.position_id is not None and price is not None:
            found.setdefault((order.position_id, order.role), price)
    return found


def entry_executions(session: Session, position_ids: list[int]) -> dict[int, int]:
    """Return the execution that placed each position's entry order, by position id (its lineage)."""
    if not position_ids:
        return {}
    rows = session.execute(
        select(Order.position_id, Order.execution_id)
        .where(
            Order.position_id.in_(position_ids),
            Order.role == OrderRole.ENTRY,
            Order.execution_id.is_not(None),
        )
        .order_by(Order.id)
    ).all()
    found: dict[int, int] = {}
    for position_id, execution_id in rows:
        if position_id is not None and execution_id is not None:
            found.setdefault(int(position_id), int(execution_id))
    return found


@dataclass(frozen=True)
class OrderView(View):
    """One order as a trader reads it."""

    id: int
    client_order_id: str
    broker_order_id: str | None
    account_id: str
    strategy: str
    execution_id: int | None
    symbol: str
    conid: int
    role: str
    side: str
    order_type: str
    quantity: Decimal
    filled_quantity: Decimal
    limit_price: Decimal | None
    stop_price: Decimal | None
    avg_fill_price: Decimal | None
    state: str
    reason: str | None
    parent_id: int | None
    created_at: datetime
    updated_at: datetime
    tick: Decimal


def order_views(session: Session, rows: list[Order]) -> list[OrderView]:
    """Turn order rows into views (strategy names and ticks looked up once)."""
    names = strategy_names(session, (row.strategy_id for row in rows))
    tick_of = ticks(session, (row.conid for row in rows))
    return [
        OrderView(
            id=row.id,
            client_order_id=row.client_order_id,
            broker_order_id=row.broker_order_id,
            account_id=row.account_id,
            strategy=names.get(row.strategy_id or 0, ""),
            execution_id=row.execution_id,
            symbol=row.symbol,
            conid=row.conid,
            role=row.role.value,
            side=row.side.value,
            order_type=row.order_type.value,
            quantity=row.quantity,
            filled_quantity=row.filled_quantity,
            limit_price=row.limit_price,
            stop_price=row.stop_price,
            avg_fill_price=row.avg_fill_price,
            state=row.state.value,
            reason=row.reason,
            parent_id=row.parent_id,
            created_at=row.created_at,
            updated_at=row.updated_at,
            tick=tick_of[row.conid],
        )
        for row in rows
    ]


WORKING = "working"  # the --state value meaning "every order that is not finished"


def list_orders(
    session: Session,
    *,
    state: str | None = None,
    strategy_id: int | None = None,
    limit: int = 50,
    before_id: int | None = None,
) -> list[OrderView]:
    """Return orders, newest first; ``state`` is an order state or ``working`` (every unfinished one);
    ``before_id`` keeps the orders older than that one (the next page of a list)."""
    query = select(Order).order_by(Order.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(Order.id < before_id)
    if state == WORKING:
        query = query.where(Order.state.not_in([s for s in OrderState if s.is_terminal]))
    elif state is not None:
        query = query.where(Order.state == OrderState(state))
    if strategy_id is not None:
        query = query.where(Order.strategy_id == strategy_id)
    return order_views(session, list(session.scalars(query)))


def order_states() -> list[str]:
    """Return what ``--state`` accepts."""
    return [WORKING, *(s.value for s in OrderState if s.value != WORKING)]  # "working" once


@dataclass(frozen=True)
class TradeView(View):
    """A closed round trip."""

    id: int
    account_id: str
    strategy: str
    symbol: str
    quantity: Decimal
    entry_price: Decimal
    exit_price: Decimal
    net_pnl: Decimal
    commissions: Decimal
    r_multiple: Decimal | None
    exit_reason: str | None
    opened_at: datetime
    closed_at: datetime
    tick: Decimal


def list_trades(
    session: Session, *, since: datetime | None = None, strategy_id: int | None = None, limit: int = 100
) -> list[TradeView]:
    """Return closed trades, newest first, closed at or after ``since``."""
    query = select(Trade).order_by(Trade.closed_at.desc(), Trade.id.desc()).limit(limit)
    if since is not None:
        query = query.where(Trade.closed_at >= since)
    if strategy_id is not None:
        query = query.where(Trade.strategy_id == strategy_id)
    rows = list(session.scalars(query))
    names = strategy_names(session, (row.strategy_id for row in rows))
    tick_of = ticks(session, (row.conid for row in rows))
    return [
        TradeView(
            id=row.id,
            account_id=row.account_id,
            strategy=names.get(row.strategy_id or 0, ""),
            symbol=row.symbol,
            quantity=row.quantity,
            entry_price=row.entry_price,
            exit_price=row.exit_price,
            net_pnl=row.net_pnl,
            commissions=row.commissions,
            r_multiple=row.r_multiple,
            exit_reason=row.exit_reason,
            opened_at=row.opened_at,
            closed_at=row.closed_at,
            tick=tick_of[row.conid],
        )
        for row in rows
    ]


@dataclass(frozen=True)
class SignalView(View):
    """A signal and what came of it."""

    id: int
    execution_id: int | None
    strategy: str
    action: str
    confidence: Decimal | None
    entry: Decimal | None
    stop_loss: Decimal | None
    take_profit: Decimal | None
    outcome: str | None
    reason: str | None
    model: str | None
    created_at: datetime
    tick: Decimal
    reasoning: str = ""
    prompt_version_id: int | None = None
    prompt: str | None = None
    """The prompt version it was made with, as ``NAME@N`` (as the prompts page names it)."""


def list_signals(
    session: Session,
    *,
    strategy_id: int | None = None,
    action: str | None = None,
    prompt_version_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[SignalView]:
    """Return signals, newest first.

    ``since``/``until`` bound ``created_at`` (``until`` excluded); ``before`` is a cursor: only signals with a
    smaller id (the next page without OFFSET).
    """
    query = select(TradingSignal).order_by(TradingSignal.id.desc()).limit(limit)
    if strategy_id is not None:
        query = query.where(TradingSignal.strategy_id == strategy_id)
    if action is not None:
        query = query.where(TradingSignal.action == SignalAction(action.upper()))
    if prompt_version_id is not None:
        query = query.where(TradingSignal.prompt_version_id == prompt_version_id)
    if since is not None:
        query = query.where(TradingSignal.created_at >= since)
    if until is not None:
        query = query.where(TradingSignal.created_at < until)
    if before is not None:
        query = query.where(TradingSignal.id < before)
    rows = list(session.scalars(query))
    names = strategy_names(session, (row.strategy_id for row in rows))
    conid_rows = session.execute(
        select(Strategy.id, Strategy.conid).where(Strategy.id.in_({r.strategy_id for r in rows}))
    )
    conids = dict(conid_rows.all())
    tick_of = ticks(session, conids.values())
    prompts = prompt_labels(session, (row.prompt_version_id for row in rows))
    return [
        SignalView(
            id=row.id,
            execution_id=row.execution_id,
            strategy=names.get(row.strategy_id, ""),
            action=row.action.value,
            confidence=row.confidence,
            entry=row.entry,
            stop_loss=row.stop_loss,
            take_profit=row.take_profit,
            outcome=row.outcome,
            reason=row.reason_detail or row.reason,
            model=row.model,
            created_at=row.created_at,
            tick=tick_of.get(conids.get(row.strategy_id, 0), DEFAULT_TICK),
            reasoning=row.reasoning or "",
            prompt_version_id=row.prompt_version_id,
            prompt=prompts.get(row.prompt_version_id or 0),
        )
        for row in rows
    ]


def prompt_labels(session: Session, ids: Iterable[int | None] | None = None) -> dict[int, str]:
    """Return prompt versions as ``NAME@N`` by id: those ``ids`` names, or every one when None."""
    query = select(PromptVersion.id, PromptTemplate.name, PromptVersion.version).join(PromptTemplate)
    if ids is not None:
        wanted = {i for i in ids if i is not None}
        if not wanted:
            return {}
        query = query.where(PromptVersion.id.in_(wanted))
    rows = session.execute(query.order_by(PromptTemplate.name, PromptVersion.version))
    return {int(i): f"{name}@{version}" for i, name, version in rows}
