"""Strategies as files: ``ibflow strategy list | show | apply | validate | pause | resume | archive``."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape
from rich.table import Table

from ibflow import bootstrap
from ibflow.cli.common import ActorOption, ReasonOption, StrategyArgument, console, err, fail
from ibflow.cli.render import JsonOption, print_json, short_when, table
from ibflow.cli.root import app
from ibflow.core.errors import IbflowError, ValidationError

if TYPE_CHECKING:
    from ibflow.db.states import StrategyState
    from ibflow.workflow.strategies.service import Plan

strategy_app = typer.Typer(
    help="Strategies as TOML or YAML files: list, show, apply, validate, pause, resume, archive.",
    no_args_is_help=True,
)
app.add_typer(strategy_app, name="strategy")

FileArgument = Annotated[
    str,
    typer.Argument(
        help="A .toml, .yaml or .yml strategy file ('-' reads standard input).", show_default=False
    ),
]
FormatOption = Annotated[
    str | None, typer.Option("--format", help="toml or yaml (default: from the file name; toml for '-').")
]


def when(moment: datetime | None, zone: str) -> str:
    """Show a UTC time in the strategy's zone and in UTC: ``Wed 2026-03-04 12:15 EST (17:15 UTC)``."""
    if moment is None:
        return "-"
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local:%a %Y-%m-%d %H:%M %Z} ({moment.astimezone(UTC):%H:%M} UTC)"


@strategy_app.command("list")
def strategy_list(
    show_all: Annotated[bool, typer.Option("--all", help="Include archived strategies.")] = False,
    as_json: JsonOption = False,
) -> None:
    """List the strategies with their state, schedule and next run."""
    from ibflow.workflow.strategies.views import strategy_summaries

    container = bootstrap.build()
    with container.read_sessions() as session:
        rows = strategy_summaries(session, include_archived=show_all)
    if as_json:
        print_json([row.as_json() for row in rows])
        return
    grid = table(
        "strategies (paper unless marked LIVE; next run in UTC)",
        "id",
        "name",
        "symbol",
        "state",
        "analyst",
        "schedule",
        "next run",
        numeric=("id",),
        wrap=("schedule",),
    )
    for row in rows:
        schedule = row.cron + (" (market hours)" if row.market_hours_only else "")
        grid.add_row(
            str(row.id),
            row.name,
            row.symbol,
            row.state + (" [bold red]LIVE[/]" if row.mode == "live" else ""),
            row.analyst,
            schedule,
            short_when(row.next_run_at) or "-",
        )
    console.print(grid if rows else "no strategies yet: write a file and run `ibflow strategy apply FILE`")


@strategy_app.command("show")
def strategy_show(
    strategy: StrategyArgument,
    as_file: Annotated[
        bool, typer.Option("--file", help="Print a strategy file that `apply` accepts.")
    ] = False,
    fmt: Annotated[str, typer.Option("--format", help="File format with --file: toml or yaml.")] = "toml",
    as_json: JsonOption = False,
) -> None:
    """Show one strategy: every field, its state and its next run (or, with --file, the file itself)."""
    from ibflow.trading.audit import jsonable
    from ibflow.workflow.runtime.schedule import describe
    from ibflow.workflow.strategies.files import as_document, format_of, write_strategy
    from ibflow.workflow.strategies.lookup import find_strategy
    from ibflow.workflow.strategies.stored import file_of, flatten

    container = bootstrap.build()
    try:
        if as_file and as_json:
            raise ValidationError("choose --file or --json, not both", {"--json": "or --file"})
        with container.read_sessions() as session:
            found = find_strategy(session, strategy)
            stored = file_of(session, found)
            state, next_run = found.state.value, found.next_run_at
            updated = found.updated_at
            facts = {"id": found.id, "state": state, "next_run_at": next_run}
            facts |= {"created_at": found.created_at, "updated_at": updated}
        text = write_strategy(stored, format_of("", fmt)) if as_file else ""
    except IbflowError as exc:
        raise fail(exc) from exc
    if as_file:
        sys.stdout.write(text)
        return
    schedule_text = describe(stored.schedule.cron)
    if as_json:
        print(
            json.dumps(jsonable({**facts, "schedule_text": schedule_text, **as_document(stored)}), indent=2)
        )
        return
    table = Table(title=f"strategy {found.name}", box=None, show_header=False, pad_edge=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("id", str(facts["id"]))
    table.add_row("state", state)
    table.add_row("next run", when(next_run, stored.schedule.timezone) if state == "active" else "-")
    table.add_row("schedule in words", schedule_text)
    for key, value in flatten(stored).items():
        table.add_row(key, value)
    table.add_row("updated", when(updated, stored.schedule.timezone))
    console.print(table)


def _read(path: str, fmt: str | None) -> tuple[str, str]:
    from ibflow.workflow.strategies.files import format_of

    if path == "-":
        return sys.stdin.read(), format_of(path, fmt or "toml")
    file = Path(path)
    if not file.is_file():
        raise ValidationError(f"{path}: no such file", {"file": "give the path of a .toml or .yaml file"})
    try:
        return file.read_text(encoding="utf-8"), format_of(path, fmt)
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{path}: not UTF-8 text", {"file": "save the file as UTF-8"}) from exc


@strategy_app.command("validate")
def strategy_validate(path: FileArgument, fmt: FormatOption = None) -> None:
    """Check a strategy file without writing: every problem at once, the schedule in words, the next runs."""
    from ibflow.workflow.strategies.service import plan_strategy_file
    from ibflow.workflow.strategies.views import upcoming_runs

    container = bootstrap.build()
    try:
        text, file_format = _read(path, fmt)
        with container.sessions() as session:  # never committed: validating writes nothing
            plan = plan_strategy_file(
                session,
                text=text,
                fmt=file_format,
                contracts=container.contract_service(),
                clock=container.clock,
            )
            gate = _gate(session, container, plan.file.mode)
            session.rollback()
    except IbflowError as exc:
        raise fail(exc) from exc
    wanted = plan.file
    console.print(
        f"{escape(path)} is valid: strategy [bold]{escape(wanted.name)}[/bold] on {wanted.symbol} "
        f"({wanted.exchange}, conid {wanted.conid}), {wanted.mode}, {wanted.analyst.provider} analyst",
        highlight=False,
    )
    schedule = wanted.schedule
    upcoming = upcoming_runs(
        schedule.cron,
        schedule.timezone,
        after=container.clock.now(),
        market_hours_only=schedule.market_hours_only,
    )
    console.print(
        f"schedule: {escape(upcoming.description)} ({schedule.timezone})", highlight=False, soft_wrap=True
    )
    console.print(f"next {len(upcoming.runs)} runs:" if upcoming.runs else "no run found in the next week")
    for run in upcoming.runs:
        console.print(f"  {when(run, schedule.timezone)}", highlight=False, soft_wrap=True)
    _print_plan(plan)
    if gate:
        console.print(f"note: live mode places no order now: {gate}", highlight=False, soft_wrap=True)


def _gate(session: Any, container: bootstrap.Container, mode: str) -> str | None:
    from ibflow.workflow.strategies.views import live_trading_gate

    if mode != "live":
        return None
    settings = container.settings
    return live_trading_gate(session, env=settings.risk, broker_env=settings.broker)


def _print_plan(plan: Plan) -> None:
    if plan.creates:
        console.print("apply would create the strategy")
    elif not plan.changes:
        console.print("apply would change nothing: the file matches the stored strategy")
    else:
        console.print("apply would change:")
        for change in plan.changes:
            console.print(f"  {escape(str(change))}", highlight=False, soft_wrap=True)


@strategy_app.command("apply")
def strategy_apply(path: FileArgument, fmt: FormatOption = None, actor: ActorOption = "cli") -> None:
    """Create the strategy a file names, or update it to match; prints each change (kept in the audit log)."""
    from ibflow.workflow.strategies.service import apply_strategy_file

    container = bootstrap.build()
    try:
        text, file_format = _read(path, fmt)
        with container.sessions() as session:
            applied = apply_strategy_file(
                session,
                text=text,
                fmt=file_format,
                contracts=container.contract_service(),
                clock=container.clock,
                actor=actor,
            )
            gate = _gate(session, container, applied.strategy.mode.value)
            strategy = applied.strategy
            name, strategy_id, state = strategy.name, strategy.id, strategy.state.value
            next_run, zone = strategy.next_run_at, strategy.timezone
            session.commit()
    except IbflowError as exc:
        raise fail(exc) from exc
    if applied.created:
        console.print(
            f"created strategy [bold]{escape(name)}[/bold] (id {strategy_id}), {state}",
            highlight=False,
            soft_wrap=True,
        )
        for change in applied.changes:
            console.print(f"  {escape(change.field)} = {escape(change.new)}", highlight=False, soft_wrap=True)
    elif not applied.changes:
        console.print(
            f"{escape(name)}: unchanged (the file matches the stored strategy)",
            highlight=False,
            soft_wrap=True,
        )
    else:
        count = len(applied.changes)
        console.print(f"updated {escape(name)} (id {strategy_id}): {count} change{'s' * (count != 1)}")
        for change in applied.changes:
            console.print(f"  {escape(str(change))}", highlight=False, soft_wrap=True)
    if state == "active":
        console.print(f"next run: {when(next_run, zone)}", highlight=False, soft_wrap=True)
    else:
        console.print(
            f"note: {escape(name)} is {state} and does not run; `ibflow strategy resume {escape(name)}`"
        )
    if gate:
        console.print(f"note: live mode places no order now: {gate}", highlight=False, soft_wrap=True)


def _change(reference: str, target: StrategyState, reason: str, actor: str) -> None:
    from ibflow.workflow.strategies.lookup import find_strategy
    from ibflow.workflow.strategies.service import change_state

    container = bootstrap.build()
    try:
        with container.sessions() as session:
            done = change_state(
                session,
                find_strategy(session, reference),
                target,
                clock=container.clock,
                actor=actor,
                reason=reason,
            )
            name, next_run, zone = done.strategy.name, done.strategy.next_run_at, done.strategy.timezone
            session.commit()
    except IbflowError as exc:
        raise fail(exc) from exc
    if not done.changed:
        console.print(
            f"{escape(name)} is already {target.value}; nothing changed", highlight=False, soft_wrap=True
        )
        return
    console.print(f"{escape(name)}: {done.before.value} -> {target.value}", highlight=False, soft_wrap=True)
    if next_run is not None:
        console.print(f"next run: {when(next_run, zone)}", highlight=False, soft_wrap=True)
    if done.open_positions and target.value != "active":
        err.print(
            f"note: {escape(name)} still holds {done.open_positions} open position(s); their stop and target "
            f"keep working (close one with `ibflow position close {escape(name)}`)",
            highlight=False,
        )


@strategy_app.command("pause")
def strategy_pause(
    strategy: StrategyArgument, reason: ReasonOption = "paused from the CLI", actor: ActorOption = "cli"
) -> None:
    """Stop scheduling a strategy (its positions keep their protection); `resume` starts it again."""
    from ibflow.db.states import StrategyState

    _change(strategy, StrategyState.PAUSED, reason, actor)


@strategy_app.command("resume")
def strategy_resume(
    strategy: StrategyArgument, reason: ReasonOption = "resumed from the CLI", actor: ActorOption = "cli"
) -> None:
    """Schedule a paused or archived strategy again, from its next slot."""
    from ibflow.db.states import StrategyState

    _change(strategy, StrategyState.ACTIVE, reason, actor)


@strategy_app.command("archive")
def strategy_archive(
    strategy: StrategyArgument, reason: ReasonOption = "archived from the CLI", actor: ActorOption = "cli"
) -> None:
    """Retire a strategy: never scheduled, hidden from `strategy list` (see `--all`); history is kept."""
    from ibflow.db.states import StrategyState

    _change(strategy, StrategyState.ARCHIVED, reason, actor)
