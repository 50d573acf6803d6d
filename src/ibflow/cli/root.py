"""The root ``ibflow`` Typer app; command modules register on it."""

from __future__ import annotations

import typer
from rich.markup import escape

from ibflow import bootstrap
from ibflow.cli.common import err, fit_to_terminal
from ibflow.core.logging import configure_logging

app = typer.Typer(
    name="ibflow",
    help="Chart-reading, LLM-assisted trading strategies against Interactive Brokers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _setup() -> None:
    fit_to_terminal()
    settings, notices = bootstrap.load_settings_with_notices()
    for notice in notices:
        err.print(f"[yellow]warning:[/yellow] {escape(notice)}", soft_wrap=True, highlight=False)
    configure_logging(settings.logging.log_level, settings.logging.log_format)
