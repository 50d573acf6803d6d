"""What every command module shares: the consoles, one-line failures and the common arguments."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ibflow.core.errors import IbflowError, ValidationError

console = Console()
err = Console(stderr=True)


def fit_to_terminal() -> None:
    """Size both consoles for this command.

    Rich reads ``COLUMNS`` once, when a console is made at import; a command run later in the same process (a
    test, an embedding script) must use the width its own environment says, not the first one's.
    """
    columns = os.environ.get("COLUMNS", "")
    for terminal in (console, err):
        terminal.width = int(columns) if columns.isdigit() else Console(stderr=terminal.stderr).width


def fail(exc: IbflowError) -> typer.Exit:
    """Print an error a user can fix (once, with each invalid field) and return the exit to raise."""
    err.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
    if isinstance(exc, ValidationError):
        for name, problem in exc.problems.items():
            if problem not in str(exc):  # a one-problem message already says it
                err.print(escape(f"  {name}: {problem}"), soft_wrap=True, highlight=False)
    return typer.Exit(code=2)


StrategyArgument = Annotated[
    str,
    typer.Argument(
        help="Strategy id or name; when a name is also another strategy's id, say id:N or name:TEXT.",
        show_default=False,
    ),
]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why; kept in the audit log.")]
ActorOption = Annotated[str, typer.Option("--actor", help="Who is acting (recorded).")]
