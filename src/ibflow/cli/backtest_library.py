"""``ibflow backtest list | show NAME | report NAME | compare A B``: the saved backtests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ibflow import bootstrap
from ibflow.cli.backtest import backtest_app
from ibflow.cli.common import console, fail
from ibflow.cli.render import JsonOption, print_json, table
from ibflow.core.errors import IbflowError
from ibflow.workflow.backtest import library

NameArgument = Annotated[str, typer.Argument(help="A backtest's name (or id).", show_default=False)]


@backtest_app.command("list")
def list_backtests(json_output: JsonOption = False) -> None:
    """The saved backtests, newest first."""
    main = bootstrap.build(bootstrap.load_settings())
    with main.read_sessions() as session:
        rows = [library.overview(row) for row in library.list_backtests(session)]
    if json_output:
        print_json(rows)
        return
    grid = table(
        "backtests",
        "id",
        "name",
        "strategy",
        "symbol",
        "from",
        "to",
        "status",
        "executions",
        "return",
        "trades",
        numeric=("id", "executions", "return", "trades"),
    )
    for row in rows:
        grid.add_row(
            *(
                str(row[key])
                for key in ("id", "name", "strategy", "symbol", "from", "to", "status", "executions")
            ),
            _percent(row["return"]),
            str(row["trades"]),
        )
    console.print(grid)


@backtest_app.command("show")
def show(name: NameArgument, json_output: JsonOption = False) -> None:
    """One backtest: its summary (with ``--json`` also its equity curve and trades)."""
    data = _detail(name)
    if json_output:
        print_json(data)
        return
    console.print(
        f"backtest {data['id']} {data['name']}: {data['strategy']} on {data['symbol']}, {data['from']} to "
        f"{data['to']}, {data['executions']} executions ({data['status']})",
        highlight=False,
        soft_wrap=True,
    )
    grid = table("summary", "measure", "value", numeric=("value",))
    for key, value in data["summary"].items():
        grid.add_row(key, _text(value))
    console.print(grid)


@backtest_app.command("report")
def report(
    name: NameArgument,
    out: Annotated[Path | None, typer.Option("--out", help="Write the HTML here (default: stdout).")] = None,
) -> None:
    """Print (or write to FILE) the backtest's HTML report, rendered again from what was saved."""
    main = bootstrap.build(bootstrap.load_settings())
    try:
        with main.read_sessions() as session:
            html = library.report_html(library.backtest_named(session, name))
    except IbflowError as exc:
        raise fail(exc) from exc
    if out is None:
        typer.echo(html, nl=False)
    else:
        out.write_text(html, encoding="utf-8")
        console.print(f"report written to {out}", highlight=False, soft_wrap=True)


@backtest_app.command("compare")
def compare(a: NameArgument, b: NameArgument, json_output: JsonOption = False) -> None:
    """Two backtests side by side: every measure of each and the difference (B - A)."""
    main = bootstrap.build(bootstrap.load_settings())
    try:
        with main.read_sessions() as session:
            data = library.compare(library.backtest_named(session, a), library.backtest_named(session, b))
    except IbflowError as exc:
        raise fail(exc) from exc
    if json_output:
        print_json(data)
        return
    first, second = data["a"], data["b"]
    grid = table(
        f"{first['name']} ({first['strategy']}, {first['from']} to {first['to']}) against "
        f"{second['name']} ({second['strategy']}, {second['from']} to {second['to']})",
        "measure",
        "A",
        "B",
        "B - A",
        numeric=("A", "B", "B - A"),
    )
    for line in data["measures"]:
        grid.add_row(line["measure"], _text(line["a"]), _text(line["b"]), _text(line["difference"]))
    console.print(grid)


def _detail(name: str) -> dict[str, Any]:
    main = bootstrap.build(bootstrap.load_settings())
    try:
        with main.read_sessions() as session:
            return library.detail(library.backtest_named(session, name))
    except IbflowError as exc:
        raise fail(exc) from exc


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f} %"


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_text(v)}" for k, v in value.items()) or "-"
    return str(value)
