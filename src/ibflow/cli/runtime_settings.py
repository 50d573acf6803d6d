"""Run-time settings: ``ibflow settings show | set``."""

from __future__ import annotations

from decimal import Decimal

import typer
from rich.table import Table

from ibflow import bootstrap
from ibflow.cli.common import ActorOption, console, fail
from ibflow.cli.render import JsonOption, print_json
from ibflow.cli.root import app
from ibflow.core.errors import IbflowError

settings_app = typer.Typer(help="Run-time settings (audited): show, set, reset.", no_args_is_help=True)
app.add_typer(settings_app, name="settings")


@settings_app.command("show")
def settings_show(as_json: JsonOption = False) -> None:
    """Show the run-time settings in effect and what each accepts."""
    from dataclasses import asdict

    from ibflow.trading.risk.runtime_settings import SPECS, allowed_range, get_runtime_settings

    container = bootstrap.build()
    risk, broker = container.settings.risk, container.settings.broker
    with container.read_sessions() as session:
        current = asdict(get_runtime_settings(session, risk, broker))
    if as_json:
        shown = {
            key: str(v) if isinstance(v := current[key], Decimal) else v for key in SPECS
        }  # exact, as text
        print_json({key: {"value": shown[key], "accepts": allowed_range(key, risk, broker)} for key in SPECS})
        return
    table = Table(title="run-time settings", box=None, header_style="bold")
    for column in ("setting", "value", "accepts"):
        table.add_column(column)
    for key in SPECS:
        table.add_row(key, str(current[key]), allowed_range(key, risk, broker))
    console.print(table)


# A value such as -1 is an argument, not an unknown option: the setting then says whether it accepts it.
@settings_app.command("set", context_settings={"ignore_unknown_options": True})
def settings_set(key: str, value: str, actor: ActorOption = "cli") -> None:
    """Change one run-time setting (an admin action; kept in the audit log)."""
    from ibflow.trading.risk.runtime_settings import set_setting

    container = bootstrap.build()
    try:
        with container.sessions() as session:
            updated = set_setting(
                session,
                key=key,
                value=value,
                actor=actor,
                at=container.clock.now(),
                env=container.settings.risk,
                broker_env=container.settings.broker,
            )
            session.commit()
    except IbflowError as exc:
        raise fail(exc) from exc
    console.print(f"{key} = {getattr(updated, key)}")


@settings_app.command("reset")
def settings_reset(key: str, actor: ActorOption = "cli") -> None:
    """Return one run-time setting to its environment default (an admin action; kept in the audit log)."""
    from ibflow.trading.risk.runtime_settings import reset_setting

    container = bootstrap.build()
    try:
        with container.sessions() as session:
            updated = reset_setting(
                session,
                key=key,
                actor=actor,
                at=container.clock.now(),
                env=container.settings.risk,
                broker_env=container.settings.broker,
            )
            session.commit()
    except IbflowError as exc:
        raise fail(exc) from exc
    console.print(f"{key} = {getattr(updated, key)} (environment default)")
