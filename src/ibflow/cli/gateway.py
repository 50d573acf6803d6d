"""``ibflow gateway-sim``: serve the IBKR Client Portal gateway simulator (docs/gateway-simulator.md)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from ibflow import bootstrap
from ibflow.cli.common import console, fail
from ibflow.cli.root import app
from ibflow.core.errors import IbflowError


@app.command("gateway-sim")
def gateway_sim(  # noqa: PLR0917 - one parameter per flag
    port: Annotated[int, typer.Option(help="Port to serve on.", min=1, max=65535)] = 5000,
    host: Annotated[str, typer.Option(help="Address to bind (loopback unless you mean it).")] = "127.0.0.1",
    tls: Annotated[
        bool, typer.Option("--tls", help="HTTPS with a self-signed certificate, as the real gateway.")
    ] = False,
    certfile: Annotated[str | None, typer.Option(help="TLS certificate file (with --keyfile).")] = None,
    keyfile: Annotated[str | None, typer.Option(help="TLS key file (with --certfile).")] = None,
    time_scale: Annotated[
        float, typer.Option(help="Simulated seconds per wall second (0 stops the clock).")
    ] = 1.0,
    database: Annotated[
        str | None,
        typer.Option(help="The simulator's own database (default: gateway-sim.db in the data folder)."),
    ] = None,
    account: Annotated[str, typer.Option(help="The paper account id it serves (DU + digits).")] = "DU1234567",
    seed: Annotated[int, typer.Option(help="Seed of the simulated market.")] = 20260101,
    logged_out: Annotated[
        bool, typer.Option("--logged-out", help="Start with no session (log in with POST /sim/login).")
    ] = False,
    no_rate_limits: Annotated[
        bool, typer.Option("--no-rate-limits", help="Switch IBKR's pacing off.")
    ] = False,
    penalty_box: Annotated[float, typer.Option(help="Seconds of 429 for everything after a breach.")] = 0.0,
    idle_timeout: Annotated[
        float, typer.Option(help="Seconds without a request before the brokerage session drops.")
    ] = 360.0,
    questions: Annotated[
        str,
        typer.Option(help="Order questions asked in turn, e.g. o163,o10331 (answered via /iserver/reply)."),
    ] = "",
    fail_calls: Annotated[int, typer.Option(help="Answer the first N API calls with HTTP 500.", min=0)] = 0,
    delay: Annotated[float, typer.Option(help="Wall seconds every answer waits.", min=0)] = 0.0,
    drop_after_orders: Annotated[
        int,
        typer.Option(
            help="Cut the connection after each of the first N placements (the order lives).", min=0
        ),
    ] = 0,
    reject_orders: Annotated[
        int, typer.Option(help="Reject the first N placements with HTTP 200 and an error.", min=0)
    ] = 0,
    executions_lag: Annotated[
        float, typer.Option(help="Seconds a fill stays out of /iserver/account/trades.", min=0)
    ] = 0.0,
    competing: Annotated[
        bool,
        typer.Option("--competing", help="Start with another session competing (ssodh/init with compete)."),
    ] = False,
    ended_orders_listed_for: Annotated[
        float | None,
        typer.Option(help="Seconds an ended order stays in live orders (default: the whole session).", min=0),
    ] = None,
) -> None:
    """Serve a simulated IBKR Client Portal gateway: the paper broker behind IBKR's wire format and quirks."""
    settings = bootstrap.load_settings()
    if (certfile is None) != (keyfile is None):
        raise fail(_usage("give both --certfile and --keyfile, or neither"))
    options = bootstrap.GatewaySimOptions(
        host=host,
        port=port,
        database_url=database or f"sqlite:///{(settings.database.data_dir / 'gateway-sim.db').as_posix()}",
        account_id=account,
        time_scale=time_scale,
        seed=seed,
        logged_in=not logged_out,
        rate_limits=not no_rate_limits,
        penalty_box_seconds=penalty_box,
        idle_timeout_seconds=idle_timeout,
        questions=tuple(q.strip() for q in questions.split(",") if q.strip()),
        tls=tls,
        certfile=certfile,
        keyfile=keyfile,
        tls_folder=str(settings.database.data_dir),
        fail_calls=fail_calls,
        delay_seconds=delay,
        drop_after_orders=drop_after_orders,
        reject_orders=reject_orders,
        executions_lag_seconds=executions_lag,
        competing=competing,
        ended_orders_listed_for_seconds=ended_orders_listed_for,
    )

    def started(url: str) -> None:
        console.print(
            f"IBKR gateway simulator for paper account {escape(account)} at [bold]{escape(url)}[/bold]\n"
            f"  point ibflow at it: IBFLOW_IBKR_BASE_URL={escape(url)}\n"
            f"  controls: POST {escape(url.rsplit('/v1/api', 1)[0])}/sim/login | logout | compete | clock "
            "| faults | questions | limits (docs/gateway-simulator.md); Ctrl-C stops",
            highlight=False,
            soft_wrap=True,
        )

    try:
        bootstrap.serve_gateway_simulator(options, started=started)
    except IbflowError as exc:
        raise fail(exc) from exc
    console.print("gateway simulator stopped; its books stay in the database for the next start")


def _usage(problem: str) -> IbflowError:
    from ibflow.core.errors import ValidationError

    return ValidationError(problem, {"--certfile": problem})
