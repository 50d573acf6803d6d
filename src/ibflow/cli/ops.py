"""Setting up and running: version, migrate, run, demo."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

import ibflow
from ibflow import bootstrap
from ibflow.cli.common import StrategyArgument, console, err, fail
from ibflow.cli.root import app
from ibflow.core.errors import IbflowError

if TYPE_CHECKING:
    from ibflow.workflow.executor import ExecutionReport


@app.command()
def version() -> None:
    """Print ibflow's version."""
    console.print(f"ibflow {ibflow.__version__}")


@app.command()
def migrate(
    revision: Annotated[
        str | None,
        typer.Option(
            "--revision",
            help="Go up or down to this revision ('head' the newest, 'base' empties the database).",
        ),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Downgrade without asking, even when tables with data are dropped.")
    ] = False,
) -> None:
    """Upgrade the database to the newest schema, or move it up or down to --revision."""
    from ibflow.db import migrate as migrations

    url = bootstrap.load_settings().database.url
    target = revision or "head"
    way = migrations.direction(url, target)
    if way is migrations.Direction.NONE:
        console.print(
            f"database already at {_revision_text(migrations.current_revisions(url))}; nothing to do"
        )
        return
    if way is migrations.Direction.DOWNGRADE:
        losing = migrations.tables_losing_data(url, target)
        if losing and not yes and not _confirm_drop(target, losing):
            err.print("not downgraded; nothing changed")
            raise typer.Exit(code=1)
        migrations.downgrade(url, target)
    else:
        migrations.upgrade(url, target)
    done = "upgraded" if way is migrations.Direction.UPGRADE else "downgraded"
    console.print(f"database {done} to {_revision_text(migrations.current_revisions(url))}")


def _confirm_drop(target: str, losing: dict[str, int]) -> bool:
    tables = ", ".join(f"{name} ({count} row{'s' if count != 1 else ''})" for name, count in losing.items())
    err.print(f"downgrading to {target} drops tables holding data: {tables}", highlight=False, soft_wrap=True)
    try:
        answer = err.input("drop them and their rows? [y/N] ")
    except EOFError:  # no one to ask: the safe answer
        answer = ""
    return answer.strip().lower() in {"y", "yes"}


def _revision_text(revisions: tuple[str, ...]) -> str:
    from ibflow.db import migrate as migrations

    if not revisions:
        return "base (no ibflow tables)"
    heads = set(migrations.current_heads())
    return ", ".join(revisions) + (" (the newest schema)" if set(revisions) == heads else "")


@app.command()
def run(strategy: StrategyArgument) -> None:
    """Run one execution of a strategy now and show every step, the signal, the risk decision and orders."""
    from ibflow.workflow.strategies.lookup import find_strategy

    container = bootstrap.build()
    try:
        with container.sessions() as session:
            found = find_strategy(session, strategy)
            strategy_id, name = found.id, found.name
        if container.settings.runner.runner == "celery":  # the workers run it; this waits and shows it
            report = _run_on_workers(container, strategy_id, name)
        else:
            executor = container.executor()
            with console.status(f"running {name} ..."):
                report = executor.run(executor.create_manual(strategy_id))  # type: ignore[arg-type]
    except IbflowError as exc:
        raise fail(exc) from exc
    _print_report(container, report)
    if report.status.value == "failed":
        raise typer.Exit(code=1)


def _run_on_workers(container: bootstrap.Container, strategy_id: int, name: str) -> ExecutionReport:
    """Queue a manual run for the Celery workers and wait for it to end (Ctrl-C stops waiting, not it)."""
    from ibflow.db.models import StrategyExecution
    from ibflow.db.states import ExecutionStatus
    from ibflow.workflow.executor import ExecutionReport

    execution_id = container.run_now(strategy_id)  # type: ignore[arg-type]
    try:
        with console.status(f"execution {execution_id} of {name} queued for the workers ..."):
            while True:
                with container.read_sessions() as session:
                    execution = session.get_one(StrategyExecution, execution_id)
                    status, summary = execution.status, dict(execution.summary or {})
                if status not in (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING):
                    return ExecutionReport(execution_id, status, None, summary)
                time.sleep(0.5)
    except KeyboardInterrupt:
        err.print(
            f"stopped waiting; execution {execution_id} goes on (`ibflow show {execution_id}`)",
            soft_wrap=True,
        )
        raise typer.Exit(code=130) from None


def _print_report(container: bootstrap.Container, report: ExecutionReport) -> None:
    from ibflow.workflow.lineage import execution_lineage

    with container.read_sessions() as session:
        lineage = execution_lineage(session, report.execution_id)
    table = Table(title=f"execution {report.execution_id}: {report.status.value}")
    for column in ("#", "step", "status", "ms", "note"):
        table.add_column(column)
    for step in lineage.steps if lineage else []:
        note = step.error or (step.output or {}).get("reason", "") if step.status.value != "succeeded" else ""
        colour = {"succeeded": "green", "failed": "red", "skipped": "yellow"}[step.status.value]
        table.add_row(
            str(step.step_index),
            step.step_name,
            f"[{colour}]{step.status.value}[/]",
            str(step.duration_ms),
            note,
        )
    console.print(table)
    charts = [
        chart
        for step in (lineage.steps if lineage else [])
        if step.step_name == "render_charts" and step.output
        for chart in step.output.get("charts", [])
    ]
    for chart in charts:
        console.print(
            f"chart {chart['timeframe']}: {container.chart_store.locate(chart['key'])}", soft_wrap=True
        )
    summary: dict[str, Any] = report.summary
    if "signal" in summary:
        console.print(f"signal: {summary['signal']['action']} (signal id {summary['signal']['id']})")
    if "risk" in summary:
        risk = summary["risk"]
        verdict = "allowed" if risk["allowed"] else f"blocked: {risk['reason']}"
        console.print(f"risk: {verdict} — {risk['detail']}")
    for order in summary.get("orders", []):
        console.print(
            f"order {order['client_order_id']}: {order['role']} {order['side']} {order['quantity']} "
            f"{order['type']} {order['limit_price'] or order['stop_price'] or ''} -> {order['state']}"
        )
    if summary.get("stop_reason"):
        console.print(f"ended early: {summary['stop_reason']}")
    if report.outcome and report.outcome.error:
        console.print(f"[red]failed:[/red] {report.outcome.error}")


@app.command()
def demo() -> None:
    """Create the demo: an admin user (password printed once) and strategies on a few symbols."""
    from ibflow.workflow.strategies.demo import seed_demo

    container = bootstrap.build()
    try:
        with console.status("creating the demo ..."):
            created = seed_demo(
                container.sessions, contracts=container.contract_service(), clock=container.clock
            )
    except IbflowError as exc:
        raise fail(exc) from exc
    if created.password is None:
        console.print("the demo exists already; nothing to do")
        return
    console.print(f"admin user: [bold]{created.username}[/bold]  password: [bold]{created.password}[/bold]")
    console.print("(shown once: store it now)")
    for name in created.strategies:
        console.print(f"strategy: {name}")
