"""The ``ibflow`` command."""

from __future__ import annotations

import signal
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import ibflow
from ibflow import bootstrap
from ibflow.core.errors import IbflowError, ValidationError
from ibflow.core.logging import configure_logging

if TYPE_CHECKING:
    from ibflow.workflow.executor import ExecutionReport

app = typer.Typer(
    name="ibflow",
    help="Chart-reading, LLM-assisted trading strategies against Interactive Brokers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
trading_app = typer.Typer(help="The kill switch: halt, reduce, resume, flatten.", no_args_is_help=True)
app.add_typer(trading_app, name="trading")
settings_app = typer.Typer(help="Run-time settings (audited): show, set, reset.", no_args_is_help=True)
app.add_typer(settings_app, name="settings")
console = Console()
err = Console(stderr=True)


@app.callback()
def _setup() -> None:
    settings = bootstrap.load_settings()
    configure_logging(settings.logging.log_level, settings.logging.log_format)


def _fail(exc: IbflowError) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
    if isinstance(exc, ValidationError):
        for name, problem in exc.problems.items():
            if problem not in str(exc):  # a one-problem message already says it
                err.print(escape(f"  {name}: {problem}"), soft_wrap=True, highlight=False)
    return typer.Exit(code=2)


@app.command()
def version() -> None:
    """Print ibflow's version."""
    console.print(f"ibflow {ibflow.__version__}")


@app.command()
def migrate(
    revision: Annotated[
        str | None,
        typer.Option("--revision", help="Downgrade to this revision ('base' empties the database)."),
    ] = None,
) -> None:
    """Upgrade the database to the newest schema, or downgrade it to --revision."""
    from ibflow.db import migrate as migrations

    settings = bootstrap.load_settings()
    url = settings.database.url
    if revision is None:
        migrations.upgrade(url)
        console.print(f"database at schema head {', '.join(migrations.current_heads())}")
    else:
        migrations.downgrade(url, revision)
        console.print(f"database downgraded to {revision}")


StrategyArgument = Annotated[
    str,
    typer.Argument(
        help="Strategy id or name; when a name is also another strategy's id, say id:N or name:TEXT.",
        show_default=False,
    ),
]


@app.command()
def run(strategy: StrategyArgument) -> None:
    """Run one execution of a strategy now and show every step, the signal, the risk decision and orders."""
    from ibflow.workflow.strategies import find_strategy

    container = bootstrap.build()
    try:
        with container.sessions() as session:
            found = find_strategy(session, strategy)
            strategy_id, name = found.id, found.name
        executor = container.executor()
        with console.status(f"running {name} ..."):
            report = executor.run(executor.create_manual(strategy_id))  # type: ignore[arg-type]
    except IbflowError as exc:
        raise _fail(exc) from exc
    _print_report(container, report)
    if report.status.value == "failed":
        raise typer.Exit(code=1)


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
def executions(
    strategy: Annotated[
        str | None, typer.Option(help="Only this strategy: id or name, or id:N / name:TEXT.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
) -> None:
    """Show the most recent executions."""
    from sqlalchemy import select

    from ibflow.db.models import Strategy, StrategyExecution
    from ibflow.workflow.strategies import find_strategy

    container = bootstrap.build()
    with container.read_sessions() as session:
        query = select(StrategyExecution, Strategy.name).join(Strategy).order_by(StrategyExecution.id.desc())
        if strategy is not None:
            try:
                query = query.where(StrategyExecution.strategy_id == find_strategy(session, strategy).id)
            except IbflowError as exc:
                raise _fail(exc) from exc
        rows = session.execute(query.limit(limit)).all()
    table = Table(title="recent executions", box=None, header_style="bold", pad_edge=False)
    table.add_column("id", justify="right", min_width=3, no_wrap=True)
    table.add_column("strategy", no_wrap=True, min_width=10, max_width=18, overflow="ellipsis")
    table.add_column("when (UTC)", no_wrap=True, min_width=11)
    table.add_column("trigger", no_wrap=True, min_width=8, max_width=8)
    table.add_column("status", no_wrap=True, min_width=9)
    table.add_column("s", justify="right", no_wrap=True, min_width=4)
    table.add_column("note", no_wrap=True, overflow="ellipsis", max_width=32)
    for execution, name in rows:
        seconds = ""
        if execution.started_at and execution.finished_at:
            seconds = f"{(execution.finished_at - execution.started_at).total_seconds():.2f}"
        summary = execution.summary or {}
        note = (
            execution.error
            or summary.get("stop_reason")
            or summary.get("reason")
            or summary.get("submit")
            or ""
        )
        when = execution.scheduled_for or execution.started_at or execution.created_at
        table.add_row(
            str(execution.id),
            name,
            when.strftime("%m-%d %H:%M"),
            execution.trigger.value,
            execution.status.value,
            seconds,
            str(note),
        )
    console.print(table)


@app.command()
def demo() -> None:
    """Create the demo: an admin user (password printed once) and strategies on a few symbols."""
    from ibflow.workflow.demo import seed_demo

    container = bootstrap.build()
    try:
        with console.status("creating the demo ..."):
            created = seed_demo(
                container.sessions, contracts=container.contract_service(), clock=container.clock
            )
    except IbflowError as exc:
        raise _fail(exc) from exc
    if created.password is None:
        console.print("the demo exists already; nothing to do")
        return
    console.print(f"admin user: [bold]{created.username}[/bold]  password: [bold]{created.password}[/bold]")
    console.print("(shown once: store it now)")
    for name in created.strategies:
        console.print(f"strategy: {name}")


@app.command()
def serve() -> None:
    """Run the scheduler, the worker threads and the periodic jobs until Ctrl-C or SIGTERM."""
    container = bootstrap.build()
    service = container.service()

    def stop(signum: int, _frame: object) -> None:
        err.print(f"received {signal.Signals(signum).name}: finishing running executions, then stopping")
        service.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    settings = container.settings.runner
    clean = service.serve(
        on_ready=lambda: console.print(
            f"ibflow serving: {settings.workers} worker(s), "
            f"dispatch every {settings.dispatch_interval_seconds}s"
            f" (database {container.engine.url.render_as_string(hide_password=True)})"
        )
    )
    if not clean:
        err.print(
            "stopped, but some executions did not finish in time; the next start marks them interrupted"
        )
        raise typer.Exit(code=1)
    console.print("stopped cleanly")


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
        raise _fail(exc) from exc
    console.print(f"trading is {value.value} ({reason})")


ReasonOption = Annotated[str, typer.Option("--reason", help="Why; kept in the audit log.")]
ActorOption = Annotated[str, typer.Option("--actor", help="Who is acting (recorded).")]


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
        raise _fail(exc) from exc
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
        raise _fail(exc) from exc
    for line in results:
        console.print(line)


@settings_app.command("show")
def settings_show() -> None:
    """Show the run-time settings in effect and what each accepts."""
    from dataclasses import asdict

    from ibflow.trading.risk.runtime_settings import SPECS, allowed_range, get_runtime_settings

    container = bootstrap.build()
    risk, broker = container.settings.risk, container.settings.broker
    with container.read_sessions() as session:
        current = asdict(get_runtime_settings(session, risk, broker))
    table = Table(title="run-time settings", box=None, header_style="bold")
    for column in ("setting", "value", "accepts"):
        table.add_column(column)
    for key in SPECS:
        table.add_row(key, str(current[key]), allowed_range(key, risk, broker))
    console.print(table)


@settings_app.command("set")
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
        raise _fail(exc) from exc
    console.print(f"{key} = {getattr(updated, key)}")


def main() -> None:
    """Run the ``ibflow`` command; errors a user can fix end in one line, not a traceback."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - interactive only
        sys.exit(130)
    except Exception as exc:
        message = explain(exc)
        if message is None:
            raise
        err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)
        sys.exit(2)


def explain(exc: Exception) -> str | None:
    """Say what to fix for the errors a user causes (settings, schema, revisions); None for the rest."""
    from alembic.util import CommandError
    from pydantic import ValidationError as SettingsError
    from sqlalchemy.exc import OperationalError, ProgrammingError

    if isinstance(exc, SettingsError):
        fields = "; ".join(f"IBFLOW_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        return f"invalid setting: {fields}"
    if isinstance(exc, OperationalError | ProgrammingError):
        text = str(exc.orig)
        if "no such table" in text or "does not exist" in text:
            return "the database has no ibflow schema yet: run `ibflow migrate` first"
        return f"database error: {text.splitlines()[0]}"
    if isinstance(exc, CommandError):
        return str(exc)
    return None
