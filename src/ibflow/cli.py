"""The ``ibflow`` command."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

import ibflow
from ibflow import bootstrap
from ibflow.core.logging import configure_logging

app = typer.Typer(
    name="ibflow",
    help="Chart-reading, LLM-assisted trading strategies against Interactive Brokers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()


@app.callback()
def _setup() -> None:
    settings = bootstrap.load_settings()
    configure_logging(settings.logging.log_level, settings.logging.log_format)


@app.command()
def version() -> None:
    """Print ibflow's version."""
    console.print(f"ibflow {ibflow.__version__}")


@app.command()
def migrate(
    revision: Annotated[
        str | None,
        typer.Option("--revision", help="Downgrade to this revision ('base' empties the database)."),
    ] = None,
) -> None:
    """Upgrade the database to the newest schema, or downgrade it to --revision."""
    from ibflow.db import migrate as migrations

    settings = bootstrap.load_settings()
    url = settings.database.url
    if revision is None:
        migrations.upgrade(url)
        console.print(f"database at schema head {', '.join(migrations.current_heads())}")
    else:
        migrations.downgrade(url, revision)
        console.print(f"database downgraded to {revision}")


def main() -> None:
    """Run the ``ibflow`` command."""
    app()
