"""``ibflow worker`` and ``ibflow beat``: the production runtime's processes (IBFLOW_RUNNER=celery)."""

from __future__ import annotations

from typing import Annotated

import typer

from ibflow import bootstrap
from ibflow.cli.common import console
from ibflow.cli.root import app

QUEUES = ("executions", "trading", "maintenance")


@app.command()
def worker(
    queues: Annotated[
        str,
        typer.Option(
            "--queues",
            "-Q",
            help="Comma-separated: executions (strategy runs), trading (tracking, protection, "
            "reconciliation), maintenance (dispatch, reaper, pruning, notifications). Default: all three.",
        ),
    ] = ",".join(QUEUES),
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, max=64, help="Tasks run at once (threads).")
    ] = 2,
) -> None:
    """Run a Celery worker until SIGTERM (it finishes the tasks it runs) or Ctrl-C."""
    chosen = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(chosen) - set(QUEUES))
    if not chosen or unknown:
        raise typer.BadParameter(
            f"unknown queue(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(QUEUES)}",
            param_hint="--queues",
        )
    container = bootstrap.build()
    console.print(f"ibflow worker on {', '.join(chosen)} with {concurrency} thread(s)", highlight=False)
    container.start_worker(queues=chosen, concurrency=concurrency)


@app.command()
def beat() -> None:
    """Recover what a crash left, then send the dispatcher tick and the periodic jobs to the queues."""
    container = bootstrap.build()
    console.print("ibflow beat: recovering, then scheduling", highlight=False)
    container.start_beat()
