"""``/indicators/configs``: named indicator configurations (viewer reads, trader writes; audited).

A strategy document copies one with an indicator entry ``{"config": "NAME"}``; changing or deleting the
named config later leaves such strategies as they are.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from ibflow.api.deps import ContainerDep, ReadSessionDep, RowId, SessionDep
from ibflow.api.roles import Trader, Viewer
from ibflow.db.models import NamedIndicatorConfig
from ibflow.workflow.strategies.indicator_configs import (
    ConfigInput,
    create_config,
    delete_config,
    get_config,
    list_configs,
    replace_config,
)

router = APIRouter(prefix="/indicators/configs", tags=["reference"])


class ConfigBody(BaseModel):
    """A named config: a catalogue type and its params (missing params take their defaults)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, examples=["rsi-fast"])
    type: str = Field(min_length=1, max_length=32, examples=["rsi"])
    params: dict[str, int | float] = Field(default_factory=dict, examples=[{"period": 7}])
    description: str = Field(default="", max_length=500)


class ConfigOut(BaseModel):
    """A saved config with its complete params."""

    id: int
    name: str
    type: str
    params: dict[str, int | float]
    description: str
    created_by: str
    created_at: datetime
    updated_at: datetime


@router.get("", response_model=list[ConfigOut])
def configs(caller: Viewer, db: ReadSessionDep) -> list[ConfigOut]:
    """Every named config, by name."""
    del caller
    return [_out(row) for row in list_configs(db)]


@router.post("", status_code=201, response_model=ConfigOut)
def add_config(caller: Trader, db: SessionDep, app: ContainerDep, body: ConfigBody) -> ConfigOut:
    """Save a named config; 422 names every bad field with its allowed range, 409 when the name is taken."""
    row = create_config(db, _input(body), actor=caller.username, clock=app.clock)
    db.commit()
    return _out(row)


@router.get("/{config_id}", response_model=ConfigOut)
def config(caller: Viewer, db: ReadSessionDep, config_id: RowId) -> ConfigOut:
    """One named config."""
    del caller
    return _out(get_config(db, config_id))


@router.put("/{config_id}", response_model=ConfigOut)
def change_config(
    caller: Trader, db: SessionDep, app: ContainerDep, config_id: RowId, body: ConfigBody
) -> ConfigOut:
    """Replace a named config (strategies that copied it keep what they copied)."""
    row = replace_config(db, config_id, _input(body), actor=caller.username, clock=app.clock)
    db.commit()
    return _out(row)


@router.delete("/{config_id}", status_code=204, response_class=Response)
def remove_config(caller: Trader, db: SessionDep, app: ContainerDep, config_id: RowId) -> Response:
    """Delete a named config (strategies that copied it keep their indicators)."""
    delete_config(db, config_id, actor=caller.username, clock=app.clock)
    db.commit()
    return Response(status_code=204)


def _input(body: ConfigBody) -> ConfigInput:
    return ConfigInput(body.name, body.type, body.params, body.description)


def _out(row: NamedIndicatorConfig) -> ConfigOut:
    return ConfigOut(
        id=row.id,
        name=row.name,
        type=row.type,
        params=row.params,
        description=row.description,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
