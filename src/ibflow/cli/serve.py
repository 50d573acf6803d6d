"""``ibflow serve``: the scheduler, workers and periodic jobs, and what they do as it happens."""

from __future__ import annotations

import logging
import signal

import typer

from ibflow import bootstrap
from ibflow.cli.common import console, err
from ibflow.cli.root import app
from ibflow.cli.serve_output import EventPrinter, stop_summary, what_next

log = logging.getLogger(__name__)


@app.command()
def serve() -> None:
    """Run the scheduler, the worker threads and the periodic jobs until Ctrl-C or SIGTERM."""
    container = bootstrap.build()
    service = container.service()
    printer = EventPrinter(
        container.sessions,
        console,
        clock=container.clock,
        on_error=lambda exc: log.warning("could not print events: %s", exc),
    )

    def stop(signum: int, _frame: object) -> None:
        err.print(
            f"received {signal.Signals(signum).name}: taking no new work, finishing running executions",
            soft_wrap=True,
        )
        service.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    runner = container.settings.runner

    def ready() -> None:
        console.print(
            f"ibflow serving: {runner.workers} worker(s), dispatch every {runner.dispatch_interval_seconds}s",
            soft_wrap=True,
            highlight=False,
        )
        what_next(
            console,
            database=container.engine.url.render_as_string(hide_password=True),
            charts=container.settings.charts.folder.resolve(),
        )
        printer.start()

    try:
        clean = service.serve(on_ready=ready)
    finally:
        printer.stop()
    running, queued = stop_summary(container.sessions)
    waiting = (
        f"; {queued} queued execution(s) not started: the next start runs those still within their grace "
        "and records the rest skipped"
        if queued
        else ""
    )
    if not clean or running:
        err.print(
            f"stopped, but {running} execution(s) did not finish in time: the next start marks them "
            f"interrupted{waiting}",
            soft_wrap=True,
        )
        raise typer.Exit(code=1)
    console.print(f"stopped cleanly: no execution left running{waiting}", soft_wrap=True)
