"""Named indicator configurations: an indicator type and its params, saved under a name for reuse.

A strategy copies a named config when it is applied (an indicator entry ``config = "NAME"`` in a strategy
file or document): editing or deleting the named config later never changes a strategy configured from it,
so what a strategy computes is always what its own file says. Every change is audited.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.core.clock import Clock
from ibflow.core.errors import Conflict, NotFound, ValidationError
from ibflow.db.models import NamedIndicatorConfig
from ibflow.indicators.catalogue import validate_params
from ibflow.trading.audit import record_audit

CONFIG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_DESCRIPTION = 500


@dataclass(frozen=True)
class ConfigInput:
    """What a user gives to save a named config."""

    name: str
    type: str
    params: Mapping[str, object] = field(default_factory=dict)
    description: str = ""


def list_configs(session: Session) -> list[NamedIndicatorConfig]:
    """Every named config, by name."""
    return list(session.scalars(select(NamedIndicatorConfig).order_by(NamedIndicatorConfig.name)))


def get_config(session: Session, config_id: int) -> NamedIndicatorConfig:
    """The named config with this id; ``NotFound`` otherwise."""
    row = session.get(NamedIndicatorConfig, config_id)
    if row is None:
        raise NotFound(f"indicator config {config_id} does not exist")
    return row


def config_named(session: Session, name: str) -> NamedIndicatorConfig | None:
    """The named config called ``name``, or None."""
    return session.scalars(select(NamedIndicatorConfig).where(NamedIndicatorConfig.name == name)).first()


def create_config(session: Session, data: ConfigInput, *, actor: str, clock: Clock) -> NamedIndicatorConfig:
    """Save a new named config: ``ValidationError`` with every bad field, ``Conflict`` for a taken name."""
    name, params = _checked(data)
    if config_named(session, name) is not None:
        raise Conflict(f"an indicator config named {name!r} exists; change it with PUT or pick another name")
    now = clock.now()
    row = NamedIndicatorConfig(
        name=name,
        type=data.type,
        params=params,
        description=data.description.strip(),
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="indicator_config.create",
        at=now,
        target_type="indicator_config",
        target_id=row.id,
        before={},
        after=config_json(row),
    )
    return row


def replace_config(
    session: Session, config_id: int, data: ConfigInput, *, actor: str, clock: Clock
) -> NamedIndicatorConfig:
    """Replace a named config's name, type, params and description (strategies that copied it keep theirs)."""
    row = get_config(session, config_id)
    name, params = _checked(data)
    other = config_named(session, name)
    if other is not None and other.id != row.id:
        raise Conflict(f"another indicator config is named {name!r}")
    before = config_json(row)
    row.name, row.type, row.params = name, data.type, params
    row.description = data.description.strip()
    row.updated_at = clock.now()
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="indicator_config.update",
        at=row.updated_at,
        target_type="indicator_config",
        target_id=row.id,
        before=before,
        after=config_json(row),
    )
    return row


def delete_config(session: Session, config_id: int, *, actor: str, clock: Clock) -> None:
    """Delete a named config (strategies that copied it keep their indicators)."""
    row = get_config(session, config_id)
    before = config_json(row)
    session.delete(row)
    record_audit(
        session,
        actor=actor,
        action="indicator_config.delete",
        at=clock.now(),
        target_type="indicator_config",
        target_id=config_id,
        before=before,
        after={},
    )


def config_json(row: NamedIndicatorConfig) -> dict[str, Any]:
    """A named config as the API and the audit log show it."""
    return {
        "id": row.id,
        "name": row.name,
        "type": row.type,
        "params": dict(row.params),
        "description": row.description,
        "created_by": row.created_by,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def _checked(data: ConfigInput) -> tuple[str, dict[str, Any]]:
    """The stripped name and the complete params, or every problem at once."""
    problems: dict[str, str] = {}
    name = data.name.strip()
    if not CONFIG_NAME.match(name):
        problems["name"] = "use 1-64 letters, digits, dots, dashes or underscores, first a letter or digit"
    if len(data.description.strip()) > MAX_DESCRIPTION:
        problems["description"] = f"at most {MAX_DESCRIPTION} characters"
    params: dict[str, Any] = {}
    try:
        params = dict(validate_params(data.type, data.params))
    except ValidationError as exc:
        for key, text in exc.problems.items():
            problems[key if key == "type" else f"params.{key}"] = text
    if problems:
        raise ValidationError(f"the indicator config has {len(problems)} invalid field(s)", problems)
    return name, params
