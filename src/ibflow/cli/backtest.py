"""``ibflow backtest [run] STRATEGY --from DATE --to DATE``: a strategy replayed on daily history on its own.

``backtest`` is a group (``run``, and ``list``, ``show``, ``report``, ``compare`` in ``backtest_library``);
``run`` is its default, so ``ibflow backtest STRATEGY ...`` works as before.
"""

from __future__ import annotations

import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from typer.core import TyperGroup

from ibflow import bootstrap
from ibflow.cli.common import StrategyArgument, console, err, fail
from ibflow.cli.render import JsonOption, print_json, table
from ibflow.cli.root import app
from ibflow.core.errors import ConfigurationError, IbflowError, ValidationError

if TYPE_CHECKING:
    from ibflow.workflow.backtest.charts_ahead import ChartsAhead
    from ibflow.workflow.backtest.llm_runs import LlmEstimate
    from ibflow.workflow.backtest.start import Plan


class _RunByDefault(TyperGroup):
    """A group whose first argument, when it names no command, is ``run``'s (the strategy)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer's own click Context
        if args and args[0] not in self.commands and args[0] not in {"--help", "-h"}:
            args = ["run", *args]
        return super().parse_args(ctx, args)


backtest_app = typer.Typer(
    cls=_RunByDefault,
    help="Backtests: run one (the default command), list, show, report, compare.",
    no_args_is_help=True,
)
app.add_typer(backtest_app, name="backtest")


@backtest_app.command("run")
def backtest(  # noqa: PLR0917 - one parameter per option
    strategy: StrategyArgument,
    first: Annotated[str, typer.Option("--from", help="First session, YYYY-MM-DD.", show_default=False)],
    last: Annotated[str, typer.Option("--to", help="Last session, YYYY-MM-DD.", show_default=False)],
    data: Annotated[
        str | None,
        typer.Option(
            "--data", help="files:PATH, a CSV file or a folder of them (default: the bundled samples)."
        ),
    ] = None,
    cash: Annotated[
        str, typer.Option("--cash", help="Starting cash of the backtest's paper account.")
    ] = "100000",
    name: Annotated[
        str | None, typer.Option("--name", help="Name of the backtest (default: made up).")
    ] = None,
    json_output: JsonOption = False,
    yes: Annotated[
        bool, typer.Option("--yes", help="Do not ask before a long run or one with paid LLM calls.")
    ] = False,
    budget: Annotated[
        str | None,
        typer.Option("--budget", help="USD the run's LLM calls may cost; it stops before passing it."),
    ] = None,
    render_ahead: Annotated[
        bool,
        typer.Option(
            "--render-ahead/--no-render-ahead",
            help="Draw the charts of the next sessions in a second process while the replay runs.",
        ),
    ] = True,
) -> None:
    """Replay STRATEGY's decisions on daily bars, once per session after the close, in a database of its own.

    Executions, lineage, orders and fills stay in that database (under the data folder); only the summary,
    equity curve and trades are kept in the main one. Ctrl-C stops after the running execution and keeps
    what ran.
    """
    from ibflow.workflow.backtest.charts_ahead import ChartsAhead
    from ibflow.workflow.backtest.start import AFTER_CLOSE, FolderTaken, needs_confirmation, plan_backtest

    settings = bootstrap.load_settings()
    main = bootstrap.build(settings)
    try:
        window = _day(first, "--from"), _day(last, "--to")
        if window[0] > window[1]:
            raise ValidationError(f"--from {first} is after --to {last}")
        starting_cash = _cash(cash)
        llm_budget = None if budget is None else _usd(budget)
        market = bootstrap.read_bar_data(data)
        with main.read_sessions() as session:
            plan = plan_backtest(
                session,
                market,
                strategy=strategy,
                window=window,
                cash=starting_cash,
                name=name,
                source=data or "samples",
                backtests_dir=settings.database.data_dir / "backtests",
            )
    except FolderTaken as exc:
        raise fail(
            ConfigurationError(f"{exc.folder} exists already; remove it or choose another --name")
        ) from exc
    except IbflowError as exc:
        raise fail(exc) from exc
    if needs_confirmation(plan) and not yes:
        typer.confirm(f"this backtest makes {len(plan.times)} executions; run it?", abort=True, err=True)
    # the chart worker starts now: it warms up while the backtest's database is made
    ahead = ChartsAhead() if render_ahead else None
    with ahead or nullcontext():
        container = bootstrap.build_backtest(
            settings, plan.folder, market, cash=starting_cash, start=plan.times[0] - AFTER_CLOSE
        )
        bootstrap.open_backtest_llm_cache(settings, container, budget=llm_budget)
        summary = _run(main, container=container, plan=plan, yes=yes, ahead=ahead)
    if json_output:
        print_json(summary)
    else:
        _print(summary)


def _run(
    main: bootstrap.Container,
    *,
    container: bootstrap.BacktestContainer,
    plan: Plan,
    yes: bool,
    ahead: ChartsAhead | None = None,
) -> dict[str, Any]:
    from ibflow.workflow.backtest.charts_ahead import chart_plan
    from ibflow.workflow.backtest.start import AFTER_CLOSE, install_strategy, run_and_save

    try:
        installed = install_strategy(
            container, plan, main=main.read_sessions, cache=container.deps.llm_cache_sessions
        )
        _confirm_llm_calls(container, installed.estimate, yes=yes)
    except IbflowError as exc:  # e.g. a named prompt template only the main database has; nothing ran
        _remove(container)
        raise fail(exc) from exc
    except typer.Abort:
        _remove(container)
        raise
    times = plan.times
    err.print(
        f"daily bars: {len(times)} decisions, one per session {AFTER_CLOSE.seconds // 60} minutes after the "
        "close (the strategy's cron does not apply); orders fill from the next sessions' bars",
        highlight=False,
        soft_wrap=True,
    )
    with container.read_sessions() as session:
        charts = container.settings.charts
        drawing = chart_plan(
            session,
            installed.strategy_id,
            times=times,
            size=(charts.chart_width_px, charts.chart_height_px),
            bars=container.market.daily_bars,
        )
    if ahead is not None and drawing.timeframes:
        ahead.begin(drawing)
    else:
        ahead = None
    with _progress(len(times)) as (advance, stop):
        saved = run_and_save(
            container,
            plan,
            installed,
            main=main.sessions,
            main_clock=main.clock,
            executor=container.executor(ahead.render if ahead else None),
            progress=advance,
            stop_requested=stop.is_set,
            stopped_by="stopped by Ctrl-C",
        )
    if ahead is not None:
        drawn = ahead.stats
        err.print(
            f"charts: {drawn.ahead} of {drawn.ahead + drawn.here} drawn ahead by a second process "
            f"({drawn.missed} drawn again with other levels, {drawn.waited:.1f} s waited for it; "
            f"it drew {drawn.drawn} in {drawn.busy:.1f} s)",
            highlight=False,
        )
    return {
        "id": saved.backtest_id,
        "name": plan.name,
        "strategy": plan.copy.name,
        "symbol": plan.copy.symbol,
        "from": plan.window[0].isoformat(),
        "to": plan.window[1].isoformat(),
        "status": "stopped" if saved.outcome.stopped else "completed",
        "reason": saved.reason,
        "database": str(saved.database),
        "report": str(saved.report),
        "summary": saved.summary,
        "equity_curve": saved.equity_curve,
        "trades": saved.trades,
    }


def _remove(container: bootstrap.BacktestContainer) -> None:
    """Remove a backtest's folder when nothing ran."""
    container.engine.dispose()
    shutil.rmtree(Path(container.settings.database.url.removeprefix("sqlite:///")).parent)


def _confirm_llm_calls(
    container: bootstrap.BacktestContainer, found: LlmEstimate | None, *, yes: bool
) -> None:
    """Show the estimate of an LLM strategy's calls; paid new calls must be confirmed (``--yes`` or the
    TTY); a run whose every call is answered from the cache asks nothing."""
    if found is None:
        return
    container.analyst_for(found.provider)  # a missing key or endpoint is refused before anything runs
    if found.paid and not yes and not sys.stdin.isatty():
        raise ConfigurationError(f"{found.describe()}; run it again with --yes to make these paid calls")
    err.print(found.describe(), highlight=False, soft_wrap=True)
    cap = container.run_cap.limit
    if cap is not None:
        err.print(f"the run stops before its LLM calls pass USD {cap} (--budget)", highlight=False)
    if not found.paid or yes:
        return
    typer.confirm("run it with these LLM calls?", abort=True, err=True)


@contextmanager
def _progress(total: int) -> Iterator[tuple[Any, threading.Event]]:
    """A progress bar with an ETA on stderr, and Ctrl-C turned into a stop request between executions."""
    stop = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():

        def request_stop(number: int, frame: object) -> None:
            stop.set()
            err.print("stopping after the running execution (what ran is kept) ...")

        previous = signal.signal(signal.SIGINT, request_stop)
    columns = (
        TextColumn("backtest"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    try:
        with Progress(*columns, console=err, transient=True) as progress:
            task = progress.add_task("backtest", total=total)
            yield (lambda done: progress.update(task, completed=done)), stop
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _print(result: dict[str, Any]) -> None:
    summary, held = result["summary"], result["summary"]["buy_and_hold"]
    console.print(
        f"backtest {result['id']} {result['name']}: {result['strategy']} on {result['symbol']}, "
        f"{result['from']} to {result['to']}, {summary['executions']} executions ({result['status']})",
        highlight=False,
    )
    rows = table("results", "measure", "strategy", "buy and hold", numeric=("strategy", "buy and hold"))
    for key in ("return", "cagr", "max_drawdown"):
        rows.add_row(key.replace("_", " "), _percent(summary[key]), _percent(held[key]))
    for key in ("sharpe", "sortino"):
        rows.add_row(key, _plain(summary[key]), _plain(held[key]))
    rows.add_row(
        "final equity", _money(summary["final_equity"]), _money(result["equity_curve"][-1]["buy_and_hold"])
    )
    rows.add_row("exposure", _percent(summary["exposure"]), "100.00 %")
    rows.add_row("trades", str(summary["trades"]), "")
    rows.add_row("win rate", _percent(summary["win_rate"]), "")
    rows.add_row("profit factor", _plain(summary["profit_factor"]), "")
    rows.add_row("average R", _plain(summary["average_r"]), "")
    rows.add_row("net P&L of trades", _money(summary["net_pnl"]), "")
    rows.add_row("commissions", _money(summary["commissions"]), "")
    signals = ", ".join(f"{action} {n}" for action, n in summary["signals"].items()) or "none"
    rows.add_row("signals", signals, "")
    console.print(rows)
    if result["reason"]:
        console.print(f"stopped: {result['reason']}", highlight=False, soft_wrap=True)
    console.print(f"its executions and lineage: {result['database']}", highlight=False, soft_wrap=True)
    console.print(f"its report: {result['report']}", highlight=False, soft_wrap=True)


def _money(text: str) -> str:
    return f"{Decimal(text):,.2f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f} %"


def _plain(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{option} {text!r} is not a date; give YYYY-MM-DD") from None


def _cash(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValidationError(f"--cash {text!r} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise ValidationError(f"--cash {text} must be a positive amount")
    return value


def _usd(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValidationError(f"--budget {text!r} is not a number of USD") from None
    if not value.is_finite() or value < 0:
        raise ValidationError(f"--budget {text} must be zero or a positive amount of USD")
    return value
