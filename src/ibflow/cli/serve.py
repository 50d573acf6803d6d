"""``ibflow serve``: the scheduler, workers and periodic jobs, and what they do as it happens."""

from __future__ import annotations

import logging
import signal
from typing import Annotated

import typer

from ibflow import bootstrap
from ibflow.cli.common import console, err
from ibflow.cli.root import app
from ibflow.cli.serve_output import EventPrinter, stop_summary, what_next
from ibflow.core import metrics

log = logging.getLogger(__name__)


HostOption = Annotated[
    str | None, typer.Option(help="Address of the API (default IBFLOW_HTTP_HOST, 127.0.0.1).")
]
PortOption = Annotated[
    int | None, typer.Option(help="Port of the API (default IBFLOW_HTTP_PORT, 8000).", min=1, max=65535)
]


@app.command()
def serve(host: HostOption = None, port: PortOption = None) -> None:
    """Run the API, the scheduler, the worker threads and the periodic jobs until Ctrl-C or SIGTERM."""
    from ibflow.api.server import ApiServer, exposed_warning
    from ibflow.web.site import mount_site

    settings = bootstrap.load_settings()
    if settings.metrics.metrics_dir is not None:  # the one process of the in-process runtime: start afresh
        metrics.clean(settings.metrics.metrics_dir)
    container = bootstrap.build(settings)
    service = container.service()
    api_settings = container.settings.api
    api = ApiServer(
        container,
        host=host or api_settings.http_host,
        port=port or api_settings.http_port,
        scheduler_alive=lambda: not service.stopping.is_set(),
        run_now=service.run_now,
        site=mount_site,
    )
    try:
        api.start()
    except OSError as exc:
        err.print(f"[red]error:[/red] {exc}; choose another with --port or IBFLOW_HTTP_PORT", soft_wrap=True)
        raise typer.Exit(code=2) from exc
    warning = exposed_warning(api.host)
    if warning:
        err.print(warning, soft_wrap=True)
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
            url=f"{api.url}/ (the web app; the API at /api/v1, OpenAPI at /docs)",
        )
        printer.start()

    try:
        clean = service.serve(on_ready=ready)
    finally:
        printer.stop()
        api.stop()
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
