"""The indicators page: the catalogue, the named configurations, and a preview on a symbol.

The catalogue and the configs read what ``/api/v1/indicators`` and ``/api/v1/indicators/configs`` read;
creating, changing and deleting a config are calls to that JSON API from ``static/app.js``. The preview (its
values and its chart) computes through ``workflow.queries.indicator_preview``, as ``POST
/api/v1/indicators/preview`` does; bars and contracts fetched for it are cached, so it commits that cache.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from ibflow.api.auth import container
from ibflow.api.deps import SessionDep
from ibflow.core.errors import NotFound, ValidationError
from ibflow.core.ids import Conid
from ibflow.indicators.catalogue import CATALOGUE
from ibflow.web.layout import page_context
from ibflow.web.pages.shell import FRAGMENTS
from ibflow.web.session import PageCaller
from ibflow.web.templating import templates
from ibflow.workflow.queries.indicator_preview import MAX_POINTS, preview_chart, preview_indicator
from ibflow.workflow.strategies.indicator_configs import get_config, list_configs

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
DEFAULT_POINTS = 20
CONFIG_PREFIX = "config:"
NO_PREVIEW: dict[str, Any] = {
    "status": 200,
    "problems": {},
    "found": None,
    "outputs": [],
    "chart": "",
    "tick": None,
}


@router.get("/indicators")
def indicators(
    request: Request,
    caller: PageCaller,
    db: SessionDep,
    *,
    symbol: str = "",
    indicator: str = "",
    points: str = str(DEFAULT_POINTS),
) -> Response:
    """The catalogue, the named configs, and the preview form (with its answer when it was submitted)."""
    preview = _preview(request, db, symbol, indicator, points) if symbol and indicator else {}
    values = {
        "catalogue": list(CATALOGUE.values()),
        "form": {"symbol": symbol or "AAPL", "indicator": indicator, "points": points},
        "max_points": MAX_POINTS,
        "preview": preview,
        **_configs(db),
    }
    return templates.TemplateResponse(
        request, "indicators/page.html", page_context(request, caller, db, title="Indicators", **values)
    )


@router.get("/indicators/preview")
def preview_fragment(
    request: Request,
    caller: PageCaller,
    db: SessionDep,
    *,
    symbol: str = "",
    indicator: str = "",
    points: str = str(DEFAULT_POINTS),
) -> Response:
    """The preview alone (the form's htmx answer): 422 or 404 with the problem when it cannot be drawn."""
    preview = _preview(request, db, symbol, indicator, points)
    return templates.TemplateResponse(
        request,
        "indicators/preview.html",
        page_context(request, caller, db, preview=preview),
        status_code=preview.get("status", 200),
    )


@router.get("/indicators/preview.png", response_class=Response)
def preview_image(
    request: Request,
    caller: PageCaller,
    db: SessionDep,
    *,
    symbol: str = "",
    indicator: str = "",
    points: str = str(DEFAULT_POINTS),
) -> Response:
    """The preview's daily chart as a PNG (404 or 422 as text when it cannot be drawn)."""
    del caller
    try:
        indicator_type, params = _resolve(db, indicator)
        png = preview_chart(
            db,
            **_sources(request),
            symbol=symbol,
            indicator_type=indicator_type,
            params=params,
            points=_points(points),
        )
    except NotFound as exc:
        return Response(str(exc), status_code=404, media_type="text/plain")
    except ValidationError as exc:
        return Response(str(exc), status_code=422, media_type="text/plain")
    db.commit()  # bars and contracts fetched for it are cached
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})


def _preview(request: Request, db: Session, symbol: str, indicator: str, points: str) -> dict[str, Any]:
    try:
        indicator_type, params = _resolve(db, indicator)
        count = _points(points)
        if not symbol.strip():
            raise ValidationError("give a symbol", {"symbol": "give the symbol to preview on, e.g. AAPL"})
        found = preview_indicator(
            db, **_sources(request), symbol=symbol, indicator_type=indicator_type, params=params, points=count
        )
    except NotFound as exc:
        return {**NO_PREVIEW, "status": 404, "problems": {"symbol": str(exc)}}
    except ValidationError as exc:
        return {**NO_PREVIEW, "status": 422, "problems": exc.problems or {"indicator": str(exc)}}
    tick = container(request).contract_service().details(db, Conid(found.conid)).min_tick
    db.commit()  # bars and contracts fetched for it are cached
    query = urlencode({"symbol": found.symbol, "indicator": indicator, "points": count})
    outputs = list(found.latest)
    return {
        "status": 200,
        "problems": {},
        "found": found,
        "outputs": outputs,
        "chart": f"/indicators/preview.png?{query}",
        "tick": tick,
    }


def _resolve(db: Session, indicator: str) -> tuple[str, dict[str, Any]]:
    """A catalogue type (its defaults) or ``config:ID`` (a named config's type and params)."""
    if indicator.startswith(CONFIG_PREFIX):
        number = indicator.removeprefix(CONFIG_PREFIX)
        if not (number.isascii() and number.isdigit() and len(number) <= 18):
            raise ValidationError("unknown config", {"indicator": f"no named config {indicator!r}"})
        try:
            row = get_config(db, int(number))
        except NotFound as exc:
            raise ValidationError("unknown config", {"indicator": str(exc)}) from exc
        return row.type, dict(row.params)
    if indicator not in CATALOGUE:
        raise ValidationError("unknown indicator", {"indicator": f"choose an indicator; got {indicator!r}"})
    return indicator, {}


def _points(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_POINTS:
        raise ValidationError("invalid points", {"points": f"give a whole number from 1 to {MAX_POINTS}"})
    return int(text)


def _sources(request: Request) -> dict[str, Any]:
    app = container(request)
    return {"broker": app.accounts()[0].broker, "contracts": app.contract_service(), "clock": app.clock}


def _configs(db: Session) -> dict[str, Any]:
    return {"configs": list_configs(db), "catalogue_by_type": CATALOGUE}


FRAGMENTS["indicator-configs"] = lambda request, db: _configs(db)
"""The named configs' table, reloaded after a change (``/fragments/indicator-configs``)."""
