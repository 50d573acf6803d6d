"""Reference data (viewer): contract search and details, the indicator catalogue and previews, chart images.

Contract answers are cached as the market data service caches them (``ContractService``). A chart is served
by its id only: the client never names a file.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from ibflow.api.deps import ContainerDep, ReadSessionDep, RowId, SessionDep
from ibflow.api.roles import Viewer
from ibflow.brokers.base import Contract
from ibflow.core.errors import NotFound
from ibflow.core.ids import Conid
from ibflow.db.models.executions import Chart
from ibflow.indicators.catalogue import CATALOGUE
from ibflow.workflow.queries.indicator_preview import MAX_POINTS, preview_indicator

router = APIRouter(tags=["reference"])


@router.get("/symbols")
def search_symbols(
    caller: Viewer, db: SessionDep, app: ContainerDep, q: Annotated[str, Query(min_length=1, max_length=64)]
) -> list[dict[str, Any]]:
    """Contracts whose symbol or name matches ``q`` (from the broker, then cached)."""
    del caller
    found = app.contract_service().search(db, q)
    db.commit()  # the contracts found are kept in ``symbols``
    return [_contract(c) for c in found]


@router.get("/symbols/{conid}")
def contract_details(caller: Viewer, db: SessionDep, app: ContainerDep, conid: RowId) -> dict[str, Any]:
    """One contract by its broker id (cached)."""
    del caller
    contract = app.contract_service().details(db, Conid(conid))
    db.commit()
    return _contract(contract)


@router.get("/indicators")
def indicator_catalogue(caller: Viewer) -> list[dict[str, Any]]:
    """Every indicator type with its parameters (default and allowed range) and outputs."""
    del caller
    return [
        {
            "type": spec.type,
            "title": spec.title,
            "description": spec.description,
            "params": [
                {
                    "name": p.name,
                    "kind": p.kind,
                    "default": p.default,
                    "minimum": p.minimum,
                    "maximum": p.maximum,
                    "exclusive_minimum": p.exclusive_minimum,
                    "allowed": p.range_text(),
                    "description": p.description,
                }
                for p in spec.params
            ],
            "outputs": [{"name": o.name, "placement": o.placement, "panel": o.panel} for o in spec.outputs],
        }
        for spec in CATALOGUE.values()
    ]


class PreviewRequest(BaseModel):
    """An indicator to try on a symbol before configuring it."""

    model_config = ConfigDict(extra="forbid")

    symbol: str = Field(min_length=1, max_length=32)
    type: str = Field(min_length=1, max_length=32)
    params: dict[str, int | float] = Field(default_factory=dict)
    points: int = Field(default=30, ge=1, le=MAX_POINTS)


@router.post("/indicators/preview")
def indicator_preview(
    caller: Viewer, db: SessionDep, app: ContainerDep, body: PreviewRequest
) -> dict[str, Any]:
    """The indicator's latest values and its last ``points`` daily values for the symbol, as of now."""
    del caller
    preview = preview_indicator(
        db,
        broker=app.accounts()[0].broker,
        contracts=app.contract_service(),
        clock=app.clock,
        symbol=body.symbol,
        indicator_type=body.type,
        params=body.params,
        points=body.points,
    )
    db.commit()  # bars and contracts fetched for it are cached
    return asdict(preview)


@router.get(
    "/charts/{chart_id}.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "the chart"}},
)
def chart_image(caller: Viewer, db: ReadSessionDep, app: ContainerDep, chart_id: RowId) -> Response:
    """A rendered chart's PNG, by the chart's id (charts pruned by retention answer 404)."""
    del caller
    chart = db.get(Chart, chart_id)
    if chart is None:
        raise NotFound(f"chart {chart_id} does not exist")
    try:
        data = app.chart_store.get(chart.store_key)
    except NotFound as exc:
        raise NotFound(f"chart {chart_id} was pruned (its file is gone)") from exc
    return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=86400"})


def _contract(contract: Contract) -> dict[str, Any]:
    return {
        "conid": contract.conid,
        "symbol": contract.symbol,
        "name": contract.name,
        "sec_type": contract.sec_type,
        "exchange": contract.exchange,
        "currency": contract.currency,
        "min_tick": f"{contract.min_tick.normalize():f}",  # 0.01, however the cache stored it
    }
