"""``ibflow executions``: the most recent strategy runs, with the whole reason each stopped or failed."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from ibflow.cli.common import console
from ibflow.cli.render import JsonOption, LimitOption, StrategyOption, print_json, read, strategy_id_of, table
from ibflow.cli.root import app


@app.command()
def executions(
    strategy: StrategyOption = None, limit: LimitOption = 20, json_output: JsonOption = False
) -> None:
    """The most recent executions, with the whole reason each stopped or failed."""
    from sqlalchemy import select

    from ibflow.db.models import Strategy, StrategyExecution
    from ibflow.workflow.outcome import execution_outcome

    def query(container: Any) -> Any:
        with container.read_sessions() as session:
            statement = (
                select(StrategyExecution, Strategy.name).join(Strategy).order_by(StrategyExecution.id.desc())
            )
            strategy_id = strategy_id_of(session, strategy)
            if strategy_id is not None:
                statement = statement.where(StrategyExecution.strategy_id == strategy_id)
            return session.execute(statement.limit(limit)).all()

    rows = read(query)
    items = [_execution_item(execution, name, execution_outcome) for execution, name in rows]
    if json_output:
        print_json(items)
        return
    grid = table(
        "recent executions",
        "id",
        "strategy",
        "when",
        "trigger",
        "status",
        "outcome",
        "s",
        "reason",
        numeric=("id", "s"),
        wrap=("reason",),
    )
    for item in items:
        colour = {"failed": "red", "ordered": "green", "blocked": "yellow"}.get(item["outcome"], "")
        grid.add_row(
            str(item["id"]),
            item["strategy"],
            item["when"][5:16].replace("T", " "),
            item["trigger"],
            item["status"],
            Text(item["outcome"], style=colour),
            "" if item["seconds"] is None else f"{item['seconds']:.2f}",
            item["reason"] or "",
        )
    if not items:
        console.print("no execution yet: `ibflow run STRATEGY` runs one now")
        return
    console.print(grid)
    console.print("times are UTC; `ibflow show ID` explains one execution step by step")


def _execution_item(execution: Any, name: str, outcome_of: Any) -> dict[str, Any]:
    summary = execution.summary or {}
    seconds = None
    if execution.started_at and execution.finished_at:
        seconds = (execution.finished_at - execution.started_at).total_seconds()
    risk = summary.get("risk") if isinstance(summary.get("risk"), dict) else None
    reason = execution.error or summary.get("stop_reason") or summary.get("reason") or summary.get("submit")
    if reason is None and risk and not risk.get("allowed", True):
        reason = f"risk {risk.get('reason')}: {risk.get('detail')}"
    finished = execution.status.value in ("succeeded", "failed")
    when = execution.scheduled_for or execution.started_at or execution.created_at
    return {
        "id": execution.id,
        "strategy": name,
        "when": when.isoformat(),
        "trigger": execution.trigger.value,
        "status": execution.status.value,
        "outcome": outcome_of(execution.status, summary) if finished else execution.status.value,
        "seconds": seconds,
        "reason": None if reason is None else str(reason),
    }
