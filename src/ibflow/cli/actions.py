"""Actions on one thing: ``ibflow order cancel ID`` and ``ibflow position close STRATEGY|ID``."""

from __future__ import annotations

from typing import Annotated

import typer

from ibflow import bootstrap
from ibflow.cli.common import ActorOption, ReasonOption, console, fail
from ibflow.cli.root import app
from ibflow.core.errors import IbflowError

order_app = typer.Typer(help="Act on one order: cancel.", no_args_is_help=True)
app.add_typer(order_app, name="order")
position_app = typer.Typer(help="Act on one position: close.", no_args_is_help=True)
app.add_typer(position_app, name="position")


@order_app.command("cancel")
def order_cancel(
    order_id: Annotated[int, typer.Argument(help="Order id (see `ibflow orders`).", show_default=False)],
    reason: ReasonOption = "cancelled from the CLI",
    actor: ActorOption = "cli",
) -> None:
    """Cancel one working order and wait for the broker to confirm (a position's stop is refused)."""
    from ibflow.workflow.actions import cancel_order

    container = bootstrap.build()
    try:
        with console.status(f"cancelling order {order_id} ..."):
            outcome = cancel_order(
                container.deps, container.accounts(), order_id=order_id, actor=actor, reason=reason
            )
    except IbflowError as exc:
        raise fail(exc) from exc
    console.print(outcome.describe())
    if not outcome.confirmed:
        raise typer.Exit(code=1)


@position_app.command("close")
def position_close(
    reference: Annotated[
        str, typer.Argument(help="Position id, or a strategy (id or name).", show_default=False)
    ],
    reason: ReasonOption = "closed from the CLI",
    actor: ActorOption = "cli",
) -> None:
    """Close one position as flatten closes all: cancel its protection, then a reduce-only exit."""
    from ibflow.trading.positions.exits import ExitStatus
    from ibflow.workflow.actions import close_positions, describe_exit

    container = bootstrap.build()
    try:
        with console.status(f"closing {reference} ..."):
            results = close_positions(
                container.deps, container.accounts(), reference=reference, actor=actor, reason=reason
            )
    except IbflowError as exc:
        raise fail(exc) from exc
    for result in results:
        console.print(describe_exit(result))
    console.print("the exit fills at market; `ibflow orders --state working` and `ibflow trades` follow it")
    if any(result.status not in (ExitStatus.SENT, ExitStatus.CLOSED_MEANWHILE) for result in results):
        raise typer.Exit(code=1)
