"""The symbols page: search as you type, a contract's details, and the symbols used recently.

Searches and details read through ``ContractService``, as ``/api/v1/symbols`` does: a contract the broker
answered is kept in ``symbols`` (a cache), so these GETs commit that cache and nothing else. "Recently
opened" lives in the browser (``static/app.js`` keeps the last contracts opened on this device in
localStorage); the page adds the symbols the strategies trade, from the database.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from ibflow.api.auth import container
from ibflow.api.deps import SessionDep
from ibflow.brokers.base import Contract
from ibflow.core.errors import NotFound, ValidationError
from ibflow.core.ids import Conid
from ibflow.marketdata.contracts import MAX_QUERY_LENGTH
from ibflow.web.layout import page_context
from ibflow.web.session import PageCaller
from ibflow.web.templating import templates
from ibflow.workflow.strategies.views import strategy_summaries

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
MAX_CONID_DIGITS = 18


@router.get("/symbols")
def symbols(request: Request, caller: PageCaller, db: SessionDep, q: str = "") -> Response:
    """The search box (with the results of ``q`` when the form was submitted) and the recent symbols."""
    found = _search(request, db, q)
    traded = sorted({s.symbol for s in strategy_summaries(db)})
    return templates.TemplateResponse(
        request,
        "symbols/page.html",
        page_context(
            request, caller, db, title="Symbols", traded=traded, max_query=MAX_QUERY_LENGTH, **found
        ),
    )


@router.get("/symbols/search")
def search_fragment(request: Request, caller: PageCaller, db: SessionDep, q: str = "") -> Response:
    """The list of contracts matching ``q`` alone (the search box's htmx answer)."""
    return templates.TemplateResponse(
        request, "symbols/results.html", page_context(request, caller, db, **_search(request, db, q))
    )


@router.get("/symbols/{conid}")
def symbol_details(request: Request, caller: PageCaller, db: SessionDep, conid: str) -> Response:
    """One contract's details; an unknown conid is a 404 page."""
    contract = _details(request, db, conid)
    if contract is None:
        return templates.TemplateResponse(
            request,
            "symbols/missing.html",
            page_context(request, caller, db, title="Symbol not found", conid=conid),
            status_code=404,
        )
    return templates.TemplateResponse(
        request,
        "symbols/details.html",
        page_context(request, caller, db, title=f"{contract.symbol} · {contract.name}", contract=contract),
    )


def _search(request: Request, db: Session, query: str) -> dict[str, Any]:
    cleaned = query.strip()
    if not cleaned:
        return {"q": "", "results": [], "problem": ""}
    try:
        found = container(request).contract_service().search(db, cleaned)
    except ValidationError as exc:
        return {"q": cleaned, "results": [], "problem": exc.problems.get("query", str(exc))}
    db.commit()  # the contracts found are kept in ``symbols``
    return {"q": cleaned, "results": found, "problem": ""}


def _details(request: Request, db: Session, conid: str) -> Contract | None:
    if not (conid.isascii() and conid.isdigit() and len(conid) <= MAX_CONID_DIGITS) or int(conid) < 1:
        return None
    try:
        contract = container(request).contract_service().details(db, Conid(int(conid)))
    except NotFound:
        return None
    db.commit()
    return contract
