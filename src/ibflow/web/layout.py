"""What every page shows around its content: the navigation and the state bar."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from ibflow import bootstrap
from ibflow.api.auth import Principal, container
from ibflow.api.roles import RANK
from ibflow.db.events.catalogue import CATALOGUE
from ibflow.db.states import UserRole
from ibflow.users.secrets import csrf_token
from ibflow.workflow.queries.status import AccountView, TradingStateView, account_view, trading_state

NAVIGATION = [
    ("/", "Dashboard"),
    ("/strategies", "Strategies"),
    ("/symbols", "Symbols"),
    ("/indicators", "Indicators"),
    ("/prompts", "Prompts"),
    ("/lineage", "Lineage"),
    ("/executions", "Executions"),
    ("/signals", "Signals"),
    ("/portfolio", "Portfolio"),
    ("/orders", "Orders"),
    ("/backtests", "Backtests"),
    ("/settings", "Settings"),
]
"""The pages that exist, in the order of the sidebar."""


@dataclass(frozen=True)
class StateBar:
    """Paper or live, each broker account's session, and the kill switch."""

    trading: TradingStateView
    accounts: list[AccountView]
    live: bool


def state_bar(session: Session, app: bootstrap.Container) -> StateBar:
    """Read the state bar from the database (no broker call)."""
    kinds = app.account_kinds()
    accounts = [account_view(session, account_id, app.clock, kind) for account_id, kind in kinds.items()]
    return StateBar(
        trading=trading_state(session), accounts=accounts, live=any("LIVE" in kind for kind in kinds.values())
    )


def page_context(request: Request, caller: Principal, session: Session, **values: Any) -> dict[str, Any]:
    """The values every page template needs, plus the page's own."""
    app = container(request)
    return {
        "request": request,
        "caller": caller,
        "can_trade": RANK[caller.role] >= RANK[UserRole.TRADER],
        "is_admin": caller.role is UserRole.ADMIN,
        "csrf": csrf_token(caller.session_token) if caller.session_token else "",
        "navigation": NAVIGATION,
        "bar": state_bar(session, app),
        "event_kinds": " ".join(CATALOGUE),
        **values,
    }
