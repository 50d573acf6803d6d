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
from sqlalchemy.orm import Session

from ibflow.api.auth import container
from ibflow.api.deps import ReadSessionDep
from ibflow.trading.portfolio.valuation import equity_curve, realized_pnl, snapshot_stamp, trade_statistics
from ibflow.web.layout import page_context
from ibflow.web.pages.lineage_parts import quantity
from ibflow.web.pages.portfolio_parts import series
from ibflow.web.session import PageCaller
from ibflow.web.templating import templates
from ibflow.workflow.queries.lineage_view import strategy_choices
from ibflow.workflow.queries.trading_views import (
    entry_executions,
    latest_snapshot,
    list_trades,
    open_positions,
)

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
RECENT_TRADES = 20
"""The newest closed trades shown; ``/api/v1/trades`` gives more."""
_CURVES: dict[tuple[str, str], tuple[tuple[int, int | None], tuple[dict[str, Any], Decimal]]] = {}
"""Each account's thinned series, by database and account, with the snapshot stamp it was made from.

Reading and thinning a year of hourly snapshots takes some 100 ms; the snapshots change every few minutes
(one added, old ones pruned), so the page makes the series again only when the count or the newest id has
changed, a query of a millisecond."""


@router.get("/portfolio")
def portfolio(request: Request, caller: PageCaller, db: ReadSessionDep) -> Response:
    """The accounts' value, open positions, closed-trade statistics, equity curve and recent trades."""
    positions = open_positions(db)
    values: dict[str, Any] = {
        "title": "Portfolio",
        "accounts": _accounts(request, db),
        "positions": positions,
        "lineage": entry_executions(db, [p.id for p in positions]),
        "strategy_ids": {name: number for number, name in strategy_choices(db)} if positions else {},
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
        columns, deepest = _curve(db, account_id)
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


def _curve(db: Session, account_id: str) -> tuple[dict[str, Any], Decimal]:
    key = (str(db.get_bind().engine.url), account_id)
    stamp = snapshot_stamp(db, account_id=account_id)
    cached = _CURVES.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    made = series(equity_curve(db, account_id=account_id))
    _CURVES[key] = (stamp, made)
    return made
