"""The portfolio page: each account's value at its newest snapshot, open positions, statistics, equity curve.

Reads the database only, through the queries the API's ``/portfolio/statistics``, ``/positions`` and
``/trades`` use; cash, equity and unrealized P&L come from the newest snapshot (``ibflow serve`` takes one
every few minutes from the broker), realized P&L from ibflow's books as ``/portfolio/summary`` has it.
The equity and drawdown series go to ``static/portfolio.js`` as JSON in the chart box's ``data-chart-series``
attribute (data, never executed, so the CSP has nothing to refuse), thinned to at most
``portfolio_parts.MAX_POINTS`` points.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.api.auth import container
from ibflow.api.deps import ReadSessionDep
from ibflow.db.models.orders import Order
from ibflow.db.states import OrderRole
from ibflow.trading.portfolio.valuation import equity_curve, realized_pnl, trade_statistics
from ibflow.web.layout import page_context
from ibflow.web.pages.lineage_parts import quantity
from ibflow.web.pages.portfolio_parts import series
from ibflow.web.session import PageCaller
from ibflow.web.templating import templates
from ibflow.workflow.queries.trading_views import latest_snapshot, list_trades, open_positions

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
RECENT_TRADES = 20
"""The newest closed trades shown; ``/api/v1/trades`` gives more."""


@router.get("/portfolio")
def portfolio(request: Request, caller: PageCaller, db: ReadSessionDep) -> Response:
    """The accounts' value, open positions, closed-trade statistics, equity curve and recent trades."""
    positions = open_positions(db)
    values: dict[str, Any] = {
        "title": "Portfolio",
        "accounts": _accounts(request, db),
        "positions": positions,
        "lineage": _entry_executions(db, [p.id for p in positions]),
        "statistics": trade_statistics(db),
        "trades": list_trades(db, limit=RECENT_TRADES),
        "recent_trades": RECENT_TRADES,
        "quantity": quantity,
    }
    return templates.TemplateResponse(
        request, "portfolio/page.html", page_context(request, caller, db, **values)
    )


def _accounts(request: Request, db: Session) -> list[dict[str, Any]]:
    found = []
    for account_id, kind in container(request).account_kinds().items():
        columns, deepest = series(equity_curve(db, account_id=account_id))
        found.append(
            {
                "account_id": account_id,
                "kind": kind,
                "snapshot": latest_snapshot(db, account_id),
                "realized_pnl": realized_pnl(db, account_id=account_id),
                "series": {"account_id": account_id, **columns},
                "deepest_drawdown": deepest.quantize(Decimal("0.01")),
            }
        )
    return found


def _entry_executions(db: Session, position_ids: list[int]) -> dict[int, int]:
    """Return each position's entry execution: its lineage shows the signal, the risk check and the orders."""
    if not position_ids:
        return {}
    rows = db.execute(
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
