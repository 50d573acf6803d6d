"""What came of an execution, in a trader's words (shared by the executor's event and the read views)."""

from __future__ import annotations

from typing import Any

from ibflow.db.states import ExecutionStatus


def execution_outcome(status: ExecutionStatus, summary: dict[str, Any]) -> str:
    """Say what came of an execution for a trader: ordered, no_order, blocked or failed."""
    if status is ExecutionStatus.FAILED:
        return "failed"
    if summary.get("orders"):
        return "ordered"
    risk = summary.get("risk")
    if isinstance(risk, dict) and not risk.get("allowed", True):
        return "blocked"
    return "no_order"
