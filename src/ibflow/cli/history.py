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
    from ibflow.workflow.queries.executions import list_executions

    def query(container: Any) -> Any:
        with container.read_sessions() as session:
            return list_executions(session, strategy_id=strategy_id_of(session, strategy), limit=limit)

    items = read(query)
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
