"""``/portfolio`` (viewer): each account's value now, closed-trade statistics, snapshots for an equity curve.

Amounts are exact decimal strings. The value reads the broker (summary and positions); statistics and
snapshots read the database only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from ibflow.api.deps import MAX_ID, ContainerDep, ReadSessionDep
from ibflow.api.roles import Viewer
from ibflow.core.errors import ValidationError
from ibflow.trading.portfolio.valuation import snapshots, trade_statistics, value_account

router = APIRouter(prefix="/portfolio", tags=["portfolio"])


@router.get("/summary")
def summary(caller: Viewer, db: ReadSessionDep, app: ContainerDep) -> list[dict[str, Any]]:
    """Each account's cash, equity, buying power, positions at market and P&L now."""
    del caller
    answers = []
    for handle in app.accounts():
        value = value_account(db, broker=handle.broker, account_id=handle.account_id, clock=app.clock)
        answers.append(
            {
                "account_id": value.account_id,
                "currency": value.currency,
                "at": value.at,
                "cash": str(value.cash),
                "equity": str(value.equity),
                "buying_power": str(value.buying_power),
                "positions_value": str(value.positions_value),
                "unrealized_pnl": str(value.unrealized_pnl),
                "realized_pnl": str(value.realized_pnl),
                "positions": [position.as_dict() for position in value.positions],
            }
        )
    return answers


@router.get("/statistics")
def statistics(
    caller: Viewer,
    db: ReadSessionDep,
    strategy_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """Closed trades: count, win rate, profit factor, average R, max drawdown, average win and loss."""
    del caller
    _ordered(since, until)
    stats = trade_statistics(db, strategy_id=strategy_id, since=since, until=until)
    return {**stats.as_dict(), "strategy_id": strategy_id, "since": since, "until": until}


@router.get("/snapshots")
def equity_history(
    caller: Viewer,
    db: ReadSessionDep,
    app: ContainerDep,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[dict[str, Any]]:
    """Every account's snapshots in time order (taken by the periodic job): an equity curve."""
    del caller
    _ordered(since, until)
    rows = []
    for handle in app.accounts():
        for snap in snapshots(db, account_id=handle.account_id, since=since, until=until):
            rows.append(
                {
                    "account_id": snap.account_id,
                    "taken_at": snap.taken_at,
                    "cash": str(snap.cash),
                    "equity": str(snap.equity),
                    "positions_value": str(snap.positions_value),
                    "realized_pnl": str(snap.realized_pnl),
                    "unrealized_pnl": str(snap.unrealized_pnl),
                }
            )
    return rows


def _ordered(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and until < since:
        raise ValidationError("the period ends before it starts", {"until": "must not be before since"})
