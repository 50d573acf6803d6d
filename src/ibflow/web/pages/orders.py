"""The orders: ``/orders`` (filtered by state and strategy, newest first, paged by id) and ``/orders/{id}``.

Both read through the queries the API and the CLI use (``list_orders``, ``order_detail``). The list and the
detail are live parts (``/fragments/orders`` and ``/fragments/order/{id}``) that reload when an event of the
stream arrives, so a fill or a cancel shows without a reload. The buttons of the detail (cancel, confirm,
reject) call ``POST /api/v1/orders/{id}/cancel|confirm|reject``, so the API's roles, CSRF and audit apply;
"Sync with broker" on both (traders) calls ``POST /api/v1/broker/sync``, which runs the tracking job now.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from ibflow.api.auth import Principal, container
from ibflow.api.deps import ReadSessionDep
from ibflow.db.states import OrderState
from ibflow.web.layout import page_context
from ibflow.web.session import PageCaller
from ibflow.web.templating import templates
from ibflow.workflow.queries.lineage_view import strategy_choices
from ibflow.workflow.queries.order_detail import order_detail
from ibflow.workflow.queries.trading_views import list_orders, order_states

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
PAGE_SIZE = 50
CANCELLABLE = {OrderState.WORKING.value, OrderState.PARTIALLY_FILLED.value, OrderState.INACTIVE.value}
"""States whose order a trader may cancel from the page (the API refuses the rest with a 409)."""


@router.get("/orders")
def orders(
    request: Request,
    caller: PageCaller,
    db: ReadSessionDep,
    *,
    state: str = "",
    strategy: str = "",
    before: str = "",
) -> Response:
    """The orders matching the filters, newest first; an unknown filter is a 400 that says why beside it."""
    values, status = _list(db, state, strategy, before)
    every = container(request).settings.runner.track_interval_seconds
    context = page_context(request, caller, db, title="Orders", track_every=f"{every:g} s", **values)
    return templates.TemplateResponse(request, "orders/list.html", context, status_code=status)


@router.get("/fragments/orders")
def orders_fragment(
    request: Request,
    caller: PageCaller,
    db: ReadSessionDep,
    *,
    state: str = "",
    strategy: str = "",
    before: str = "",
) -> Response:
    """The list's live part alone (the table and its "older" link)."""
    values, status = _list(db, state, strategy, before)
    context = page_context(request, caller, db, **values)
    return templates.TemplateResponse(request, "orders/table.html", context, status_code=status)


@router.get("/orders/{order_id}")
def order_page(request: Request, caller: PageCaller, db: ReadSessionDep, order_id: str) -> Response:
    """One order: its figures, state changes, fills, parent and children, and its actions."""
    detail = order_detail(db, number) if (number := _number(order_id)) is not None else None
    if detail is None:
        return _missing(request, caller, db, order_id)
    title = f"Order #{detail.order.id}: {detail.order.side} {detail.order.symbol}"
    context = page_context(request, caller, db, title=title, **_detail_values(detail))
    return templates.TemplateResponse(request, "orders/detail.html", context)


@router.get("/fragments/order/{order_id:int}")
def order_fragment(request: Request, caller: PageCaller, db: ReadSessionDep, order_id: int) -> Response:
    """The detail's live part alone."""
    detail = order_detail(db, order_id)
    if detail is None:
        return _missing(request, caller, db, str(order_id), template="orders/missing-part.html")
    context = page_context(request, caller, db, **_detail_values(detail))
    return templates.TemplateResponse(request, "orders/detail-live.html", context)


def _list(db: Session, state: str, strategy: str, before: str) -> tuple[dict[str, Any], int]:
    """The list's values and 200, or no orders, the problems by field and 400."""
    states = order_states()
    strategies = strategy_choices(db)
    chosen = state.strip().lower()
    strategy_id, before_id = _number(strategy), _number(before)
    problems: dict[str, str] = {}
    if chosen and chosen not in states:
        problems["state"] = f"There is no order state {state!r}; a state is one of: {', '.join(states)}."
    if strategy and (strategy_id is None or strategy_id not in dict(strategies)):
        problems["strategy"] = f"There is no strategy {strategy!r}; pick one from the list."
    if before and before_id is None:
        problems["before"] = f"{before!r} is not an order id (a whole number)."
    values: dict[str, Any] = {
        "states": states,
        "state": chosen,
        "strategies": strategies,
        "strategy_id": strategy_id,
        "before": before_id,
        "query": _query(chosen, strategy_id),
        "problems": problems,
        "orders": [],
        "older": None,
    }
    if problems:
        return values, 400
    rows = list_orders(
        db, state=chosen or None, strategy_id=strategy_id, limit=PAGE_SIZE + 1, before_id=before_id
    )
    values["orders"] = rows[:PAGE_SIZE]
    values["older"] = rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None
    return values, 200


def _query(state: str, strategy_id: int | None) -> str:
    parts = [f"state={state}"] if state else []
    parts += [f"strategy={strategy_id}"] if strategy_id is not None else []
    return "&".join(parts)


def _detail_values(detail: Any) -> dict[str, Any]:
    state = detail.order.state
    return {
        "detail": detail,
        "o": detail.order,
        "cancellable": state in CANCELLABLE,
        "asks": state == OrderState.NEEDS_CONFIRMATION.value,
    }


def _number(text: str | None) -> int | None:
    if not text:
        return None
    plain = text.isascii() and text.isdigit() and len(text) <= 18
    return int(text) if plain and int(text) > 0 else None


def _missing(
    request: Request, caller: Principal, db: Session, order_id: str, *, template: str = "orders/missing.html"
) -> Response:
    message = f"There is no order {order_id}."
    context = page_context(request, caller, db, title="Order not found", message=message)
    return templates.TemplateResponse(request, template, context, status_code=404)
