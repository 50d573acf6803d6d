"""The ``ibflow`` command: the root app in ``root``, one module per group of commands."""

from __future__ import annotations

import sys

from rich.markup import escape

from ibflow.cli import (  # noqa: F401
    actions,
    backtest,
    backtest_library,
    gateway,
    history,
    notify,
    ops,
    prompt,
    reads,
    runtime_settings,
    serve,
    show,
    strategy,
    trading,
    users,
    web,
    workers,
)
from ibflow.cli.common import err
from ibflow.cli.root import app

__all__ = ["app", "explain", "main"]


def main() -> None:
    """Run the ``ibflow`` command; errors a user can fix end in one line, not a traceback."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - interactive only
        sys.exit(130)
    except Exception as exc:
        message = explain(exc)
        if message is None:
            raise
        err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)
        sys.exit(2)


def explain(exc: Exception) -> str | None:
    """Say what to fix for the errors a user causes (settings, schema, revisions); None for the rest."""
    from alembic.util import CommandError
    from pydantic import ValidationError as SettingsError
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from ibflow.core.errors import IbflowError

    if isinstance(exc, IbflowError):  # a configuration problem found outside a command's own handling
        return str(exc)
    if isinstance(exc, SettingsError):
        fields = "; ".join(f"IBFLOW_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        return f"invalid setting: {fields}"
    if isinstance(exc, OperationalError | ProgrammingError):
        text = str(exc.orig)
        if "no such table" in text or "does not exist" in text:
            return f"{_database()} has no ibflow schema yet: run `ibflow migrate` first"
        return f"database error: {text.splitlines()[0]}"
    if isinstance(exc, CommandError):
        return str(exc)
    return None


def _database() -> str:
    from ibflow import bootstrap
    from ibflow.db.engine import describe_database

    try:
        return describe_database(bootstrap.load_settings().database.url)
    except Exception:
        return "the database"
