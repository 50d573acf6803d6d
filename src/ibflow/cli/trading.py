"""The kill switch: ``ibflow trading halt | reduce | resume | flatten``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from ibflow import bootstrap
from ibflow.cli.common import ActorOption, ReasonOption, console, fail
from ibflow.cli.root import app
from ibflow.core.errors import IbflowError

if TYPE_CHECKING:
    from ibflow.trading.positions.exits import FlattenResult
    from ibflow.workflow.runtime.flatten import FlattenReport

trading_app = typer.Typer(help="The kill switch: halt, reduce, resume, flatten.", no_args_is_help=True)
app.add_typer(trading_app, name="trading")


def _trading(action: str, reason: str, actor: str, *, admin: bool) -> None:
    from ibflow.db.states import TradingStateValue
    from ibflow.trading.risk.kill_switch import set_state

    container = bootstrap.build()
    value = {"halt": TradingStateValue.HALTED, "reduce": TradingStateValue.REDUCING}.get(
        action, TradingStateValue.ACTIVE
    )
    try:
        with container.sessions() as session:
            set_state(
                session,
                value=value,
                actor=actor,
                reason=reason,
                at=container.clock.now(),
                actor_is_admin=admin,
            )
            session.commit()
    except IbflowError as exc:
        raise fail(exc) from exc
    console.print(f"trading is {value.value} ({reason})")


@trading_app.command("halt")
def trading_halt(reason: ReasonOption = "halted from the CLI", actor: ActorOption = "cli") -> None:
    """Stop new entries now; returns once no send is under way and unfilled entries are cancelled.

    Protection, cancels and flatten keep working. The run-time setting halt_cancels_entries=false keeps
    unfilled entries working.
    """
    try:
        with console.status("halting: waiting for sends under way, cancelling unfilled entries ..."):
            lines = bootstrap.build().halt_everything(actor=actor, reason=reason)
    except IbflowError as exc:
        raise fail(exc) from exc
    for line in lines:
        console.print(line)


@trading_app.command("reduce")
def trading_reduce(reason: ReasonOption = "reducing from the CLI", actor: ActorOption = "cli") -> None:
    """Allow only orders that reduce exposure; from HALTED too (the CLI has the rights resume needs)."""
    _trading("reduce", reason, actor, admin=True)


@trading_app.command("resume")
def trading_resume(reason: ReasonOption = "resumed from the CLI", actor: ActorOption = "cli") -> None:
    """Return to normal trading (an admin action: the CLI runs with the machine owner's rights)."""
    _trading("resume", reason, actor, admin=True)


@trading_app.command("flatten")
def trading_flatten(reason: ReasonOption = "flatten from the CLI", actor: ActorOption = "cli") -> None:
    """Halt new entries, then cancel every working ibflow order and close every ibflow position at market.

    Trading stays HALTED afterwards: `ibflow trading resume` (or `reduce`) when you are ready.
    """
    try:
        with console.status("halting new entries, then flattening ..."):
            report = bootstrap.build().flatten_everything(actor=actor, reason=reason)
    except IbflowError as exc:
        raise fail(exc) from exc
    for line in flatten_summary(report, actor=actor, reason=reason):
        console.print(line, highlight=False, soft_wrap=True)
    if not report.complete:
        raise typer.Exit(code=1)


def flatten_summary(report: FlattenReport, *, actor: str, reason: str) -> list[str]:
    """Describe a flatten as a trader reads it: the halt, then per account what was closed or is left."""
    from ibflow.db.states import TradingStateValue

    if report.previous_state is TradingStateValue.HALTED:
        halt = "trading was already HALTED: no new entries"
    else:
        halt = f"trading HALTED: no new entries (by {actor}: {reason})"
    lines = [f"{halt}; `ibflow trading resume` when you are ready"]
    for account in report.accounts:
        if account.error is not None or account.result is None:
            lines.append(f"{account.account_id}: not flattened: {account.error}")
            continue
        lines.extend(f"{account.account_id}: {text}" for text in _account_lines(account.result))
    return lines


def _account_lines(result: FlattenResult) -> list[str]:
    from ibflow.trading.positions.exits import ExitStatus

    lines: list[str] = []
    for done in result.exits:
        position = f"position {done.position_id}" if done.position_id is not None else "a position"
        if done.status is ExitStatus.SENT:
            lines.append(
                f"{position}: exit order {done.order_id} sent for {done.quantity.normalize():f} shares"
            )
        else:
            lines.append(f"{position}: {done.status.value.replace('_', ' ')}: {done.detail}")
    if result.unconfirmed_cancels:
        ids = ", ".join(str(order_id) for order_id in result.unconfirmed_cancels)
        lines.append(
            f"cancel not confirmed yet for order(s) {ids}: check again with `ibflow trading flatten`"
        )
    if not result.exits:
        lines.append(
            "no open position to close" + ("" if result.unconfirmed_cancels else "; no order left working")
        )
    elif not result.unconfirmed_cancels:
        lines.append("every working order cancelled")
    return lines
