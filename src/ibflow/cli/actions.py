"""Actions on one thing: ``ibflow order cancel|confirm|reject ID``, ``ibflow position close STRATEGY|ID``; and
``ibflow order sync`` (every account's orders and fills with the broker now)."""

from __future__ import annotations

from typing import Annotated

import typer

from ibflow import bootstrap
from ibflow.cli.common import ActorOption, ReasonOption, console, fail
from ibflow.cli.root import app
from ibflow.core.errors import IbflowError

order_app = typer.Typer(
    help="Act on one order: cancel, confirm or reject; or sync them all with the broker now.",
    no_args_is_help=True,
)
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


@order_app.command("sync")
def order_sync() -> None:
    """Sync orders, fills and protection with the broker now (the tracking job), and say what changed.

    With IBFLOW_RUNNER=celery the tracking jobs go to the workers' trading queue instead."""
    container = bootstrap.build()
    try:
        with console.status("syncing with the broker ..."):
            done = container.sync_with_broker()
    except IbflowError as exc:
        raise fail(exc) from exc
    console.print(done.describe(), soft_wrap=True, highlight=False)
    if not done.complete:
        raise typer.Exit(code=1)


@order_app.command("confirm")
def order_confirm(
    order_id: Annotated[int, typer.Argument(help="Order id (state needs_confirmation).", show_default=False)],
    actor: ActorOption = "cli",
) -> None:
    """Confirm the broker's question and send the order again (an entry is risk-checked again first)."""
    from ibflow.workflow.actions import confirm_order

    container = bootstrap.build()
    try:
        with console.status(f"confirming order {order_id} ..."):
            done = confirm_order(container.deps, container.accounts(), order_id=order_id, actor=actor)
    except IbflowError as exc:
        raise fail(exc) from exc
    answered = ", ".join(done.message_ids) or "the question"
    console.print(
        f"order {done.order_id} ({done.client_order_id}): confirmed {answered} ({done.question}); "
        f"now {done.state}",
        highlight=False,
        soft_wrap=True,
    )
    if done.state in ("rejected", "needs_confirmation"):
        raise typer.Exit(code=1)


@order_app.command("reject")
def order_reject(
    order_id: Annotated[int, typer.Argument(help="Order id (state needs_confirmation).", show_default=False)],
    reason: ReasonOption = "rejected from the CLI",
    actor: ActorOption = "cli",
) -> None:
    """Reject an order waiting for confirmation: it ends rejected (the broker never held it)."""
    from ibflow.workflow.actions import reject_order

    container = bootstrap.build()
    try:
        done = reject_order(container.deps, order_id=order_id, actor=actor, reason=reason)
    except IbflowError as exc:
        raise fail(exc) from exc
    console.print(f"order {done.order_id} ({done.client_order_id}) {done.state}", highlight=False)


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
