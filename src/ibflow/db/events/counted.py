"""The metrics counted from committed events: executions, order transitions, fills, mismatches, kill switch.

``record_event`` hands every event to ``count`` once its transaction has committed, so what a rollback
undoes is never counted, and each of these figures is counted where the fact is written, once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ibflow.core.metrics import instruments


def count(kind: str, payload: Mapping[str, Any] | None) -> None:
    """Count one committed event of ``kind``."""
    found = instruments()
    found.events.labels(kind).inc()
    said = payload or {}
    if kind == "execution.finished":
        found.executions.labels(str(said.get("status")), str(said.get("outcome"))).inc()
    elif kind == "order.state_changed":
        found.order_transitions.labels(str(said.get("to")), str(said.get("origin"))).inc()
    elif kind == "fill.applied":
        found.fills.labels(str(said.get("side")), str(said.get("role"))).inc()
    elif kind == "reconcile.mismatch":
        found.reconcile_mismatches.inc()
    elif kind == "trading.state_changed":
        found.kill_switch_changes.labels(str(said.get("to"))).inc()
