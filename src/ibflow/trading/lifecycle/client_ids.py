"""Our client order ids (TRADING-SAFETY rule 1): deterministic, unique across installations.

- ``ibf-<install>-<execution>-<leg>`` for the orders of a strategy execution (legs ``entry``, ``stop``,
  ``target``). An execution places at most one bracket, so sending it twice hits the unique column instead
  of the broker. An entry made outside an execution uses ``manual<n>`` in place of the execution id.
- ``ibf-<install>-<purpose>-<position>-<n>`` for exits, flattens, expiries and replacements outside an
  execution; ``n`` is the next free number for that purpose and position.

``install`` is the random id the first migration stored in ``installation``, so an order another
installation (or a test database) sent to the same broker account is never taken for one of ours.
"""

from __future__ import annotations

import re
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from ibflow.core.errors import ConfigurationError
from ibflow.core.ids import ClientOrderId, InstallationId
from ibflow.db.models import Installation, Order

PREFIX = "ibf"


class Leg(StrEnum):
    """The three orders of an execution's bracket."""

    ENTRY = "entry"
    STOP = "stop"
    TARGET = "target"


class Purpose(StrEnum):
    """Why an order outside an execution was sent; part of its client order id and the trade's exit reason."""

    SIGNAL = "signal"
    FLATTEN = "flatten"
    PROTECT = "protect"
    EXPIRE = "expire"
    REPLACE = "replace"
    MANUAL = "manual"


_PURPOSE_ID = re.compile(r"^ibf-(?P<install>[0-9a-z]+)-(?P<purpose>[a-z]+)-(?P<position>\d+)-(?P<n>\d+)$")
_EXECUTION_ID = re.compile(r"^ibf-(?P<install>[0-9a-z]+)-(?P<execution>\d+|manual\d+)-(?P<leg>[a-z]+)$")


def installation_id(session: Session) -> InstallationId:
    """Return this installation's id, written by the first migration."""
    value = session.scalars(select(Installation.installation_id).order_by(Installation.id)).first()
    if value is None:
        raise ConfigurationError("the installation table is empty: run the migrations (ibflow migrate)")
    return InstallationId(value)


def execution_leg_id(install: str, execution: int | str, leg: Leg) -> ClientOrderId:
    """Return the client order id of one leg of an execution's bracket."""
    return ClientOrderId(f"{PREFIX}-{install}-{execution}-{leg.value}")


def manual_execution_key(session: Session, install: str) -> str:
    """Return the next free ``manual<n>`` key for an entry placed outside any execution."""
    like = f"{PREFIX}-{install}-manual%-{Leg.ENTRY.value}"
    numbers = [
        _manual_number(cid)
        for cid in session.scalars(select(Order.client_order_id).where(Order.client_order_id.like(like)))
    ]
    return f"manual{max(numbers, default=0) + 1}"


def _manual_number(client_order_id: str) -> int:
    match = _EXECUTION_ID.match(client_order_id)
    if match is None or not match["execution"].startswith("manual"):
        return 0
    return int(match["execution"].removeprefix("manual"))


def next_purpose_id(session: Session, install: str, purpose: Purpose, position_id: int) -> ClientOrderId:
    """Return the next free ``ibf-<install>-<purpose>-<position>-<n>`` (the caller holds the account lock)."""
    stem = f"{PREFIX}-{install}-{purpose.value}-{position_id}-"
    used = session.scalars(select(Order.client_order_id).where(Order.client_order_id.like(f"{stem}%")))
    numbers = [int(cid.removeprefix(stem)) for cid in used if cid.removeprefix(stem).isdigit()]
    return ClientOrderId(f"{stem}{max(numbers, default=0) + 1}")


def is_ours(client_order_id: str | None, install: str) -> bool:
    """Tell whether a client order id was made by this installation."""
    return client_order_id is not None and client_order_id.startswith(f"{PREFIX}-{install}-")


def purpose_of(client_order_id: str) -> Purpose | None:
    """Return the purpose an id outside an execution carries, or ``None`` for an execution's legs."""
    match = _PURPOSE_ID.match(client_order_id)
    if match is None:
        return None
    try:
        return Purpose(match["purpose"])
    except ValueError:
        return None
