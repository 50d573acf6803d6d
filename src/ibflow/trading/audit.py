"""The audit log: who did what by hand (limits, live trading, settings, the kill switch, flatten, orders).

Actors are people (a user name, or ``cli`` for the machine owner) or ibflow's own rules (``auto:<rule>``).
Only code names a rule: ``automatic_actor`` builds the name, and ``person_actor`` refuses a name a person
types that is empty, too long or reserved (``auto:…``, ``system``), so nobody can hide a manual action
behind a rule's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy.orm import Session

from ibflow.core.errors import ValidationError
from ibflow.db.models.system import AuditLog

AUTOMATIC_PREFIX = "auto:"
SYSTEM_ACTOR = "system"
MAX_ACTOR_LENGTH = 64


def automatic_actor(rule: str) -> str:
    """Name ibflow's own rule ``rule`` as an actor (``auto:<rule>``); for code, never for user input."""
    return f"{AUTOMATIC_PREFIX}{rule}"


def is_automatic(actor: str) -> bool:
    """Tell whether ``actor`` names one of ibflow's own rules."""
    return actor.strip().lower().startswith(AUTOMATIC_PREFIX)


def person_actor(actor: str) -> str:
    """Return a person's actor name, stripped; ``ValidationError`` when empty, too long or reserved."""
    name = actor.strip()
    if not name or len(name) > MAX_ACTOR_LENGTH:
        problem = f"give a name of 1-{MAX_ACTOR_LENGTH} characters"
    elif is_automatic(name) or name.lower() == SYSTEM_ACTOR:
        problem = f"{name!r} is reserved for ibflow itself; act under your own name"
    else:
        return name
    raise ValidationError(f"actor: {problem} (e.g. --actor alice)", {"actor": problem})


def jsonable(value: Any) -> Any:
    """Turn a value into plain JSON: Decimals become exact strings, times ISO text, enums their value."""
    if isinstance(value, Enum):
        value = value.value
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(item) for item in value]
    return _text(value)


def _text(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float):
        # Floats never belong in money; keep their shortest exact text rather than a binary expansion.
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} {value!r} cannot be written to the audit log")


def record_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    at: datetime,
    target_type: str | None = None,
    target_id: str | int | None = None,
    before: Any = None,
    after: Any = None,
    detail: str = "",
) -> AuditLog:
    """Add one audit row in the caller's transaction (the caller commits)."""
    if not actor:
        raise ValueError("an audit row needs an actor")
    row = AuditLog(
        at=at,
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        before=jsonable(before),
        after=jsonable(after),
        detail=detail,
    )
    session.add(row)
    return row
