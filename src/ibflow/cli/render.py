"""Shared by the read commands: JSON output for scripts, and table and number shapes for people."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table
from rich.text import Text

from ibflow import bootstrap
from ibflow.cli.common import fail
from ibflow.core.display import money_text, price_text, quantity_text, when_text
from ibflow.core.errors import IbflowError

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")]
StrategyOption = Annotated[
    str | None, typer.Option("--strategy", help="Only this strategy: id or name, or id:N / name:TEXT.")
]
LimitOption = Annotated[int, typer.Option(min=1, max=1000, help="At most this many rows.")]

T = TypeVar("T")

__all__ = ["money_text", "price_text", "quantity_text", "when_text"]


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout (no colour, no wrapping)."""
    typer.echo(json.dumps(data, indent=2, sort_keys=False))


def table(title: str, *columns: str, numeric: tuple[str, ...] = (), wrap: tuple[str, ...] = ()) -> Table:
    """A plain table: numbers right-aligned, ``wrap`` columns (reasons, details) wrapped to the terminal's
    width in full, every other column kept on one line."""
    grid = Table(title=title, box=None, header_style="bold", pad_edge=False, title_justify="left")
    for column in columns:
        if column in numeric:
            grid.add_column(column, justify="right", no_wrap=True)
        elif column in wrap:
            grid.add_column(column, overflow="fold", ratio=1, min_width=8)
        else:
            grid.add_column(column, no_wrap=True)
    return grid


def short_when(value: datetime | None) -> str:
    """A time in a table cell: month-day hour:minute, UTC (the table's title says UTC)."""
    return "" if value is None else value.strftime("%m-%d %H:%M")


def signed(value: Decimal | None, currency: str = "USD") -> Text:
    """Money with its sign, green when above zero and red below (the sign says it without colour)."""
    if value is None:
        return Text("")
    style = "green" if value > 0 else ("red" if value < 0 else "")
    return Text(money_text(value, currency, sign=True), style=style)


def read(query: Callable[[bootstrap.Container], T]) -> T:
    """Run a read against a freshly built container; a user's error ends the command in one line."""
    container = bootstrap.build()
    try:
        return query(container)
    except IbflowError as exc:
        raise fail(exc) from exc


def strategy_id_of(session: Any, reference: str | None) -> int | None:
    """Return the id of the strategy ``reference`` names (None for none); ``NotFound`` when none matches."""
    from ibflow.workflow.strategies.lookup import find_strategy

    return None if reference is None else find_strategy(session, reference).id
