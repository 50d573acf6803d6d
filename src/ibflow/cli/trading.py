"""The kill switch: ``ibflow trading halt | reduce | resume | flatten``."""

from __future__ import annotations

import typer

from ibflow import bootstrap
from ibflow.cli.common import ActorOption, ReasonOption, console, fail
from ibflow.cli.root import app
from ibflow.core.errors import IbflowError

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
    """Allow only orders that reduce exposure."""
    _trading("reduce", reason, actor, admin=False)


@trading_app.command("resume")
def trading_resume(reason: ReasonOption = "resumed from the CLI", actor: ActorOption = "cli") -> None:
    """Return to normal trading (an admin action: the CLI runs with the machine owner's rights)."""
    _trading("resume", reason, actor, admin=True)


@trading_app.command("flatten")
def trading_flatten(reason: ReasonOption = "flatten from the CLI", actor: ActorOption = "cli") -> None:
    """Cancel every working ibflow order and close every ibflow position at market, in every account."""
    try:
        with console.status("flattening ..."):
            results = bootstrap.build().flatten_everything(actor=actor, reason=reason)
    except IbflowError as exc:
        raise fail(exc) from exc
    for line in results:
        console.print(line)
