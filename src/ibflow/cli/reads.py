"""What the bot does, without SQL: ``ibflow status | positions | orders | trades | signals``.

Every read command takes ``--json`` (``ibflow executions`` is in ``history``). They read ibflow's
database only (no broker call, no pandas or matplotlib), so they answer at once, even while ``ibflow serve``
runs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.text import Text

from ibflow.cli.common import console, fail
from ibflow.cli.render import (
    JsonOption,
    LimitOption,
    StrategyOption,
    money_text,
    price_text,
    print_json,
    quantity_text,
    read,
    short_when,
    signed,
    strategy_id_of,
    table,
    when_text,
)
from ibflow.cli.root import app
from ibflow.core.errors import ValidationError


@app.command()
def status(json_output: JsonOption = False) -> None:
    """Trading state, broker session, account, open positions, working orders, mismatches, next runs."""
    from ibflow.workflow.queries.status import status_report

    def query(container: Any) -> Any:
        with container.read_sessions() as session:
            return status_report(session, accounts=container.account_kinds(), clock=container.clock)

    report = read(query)
    if json_output:
        print_json(report.as_dict())
        return
    state = report.trading
    colour = {"ACTIVE": "green", "REDUCING": "yellow", "HALTED": "red"}.get(state.state, "")
    by = f" by {state.changed_by}" if state.changed_at else ""
    console.print(
        Text.assemble(
            "trading ",
            (state.state, f"bold {colour}"),
            f" ({state.reason}{by}",
            f", {when_text(state.changed_at)})" if state.changed_at else ")",
        )
    )
    for account in report.accounts:
        console.print(_account_line(account))
    console.print(_positions_table(report.positions, title=f"open positions ({len(report.positions)})"))
    console.print(
        _orders_table(report.working_orders, title=f"working orders ({len(report.working_orders)})")
    )
    if report.mismatches:
        grid = table(
            "reconciliation mismatches",
            "account",
            "conid",
            "ibflow",
            "broker",
            "since",
            "detail",
            wrap=("detail",),
        )
        for item in report.mismatches:
            grid.add_row(
                item.account_id,
                str(item.conid),
                quantity_text(item.ibflow_quantity),
                quantity_text(item.broker_quantity),
                when_text(item.detected_at),
                item.detail,
            )
        console.print(grid)
    else:
        console.print("reconciliation: no open mismatch")
    grid = table("next runs", "strategy", "symbol", "next run", "cron (zone)")
    for run in report.next_runs:
        next_at = when_text(run.next_run_at) or "not scheduled"
        grid.add_row(run.strategy, run.symbol, next_at, f"{run.cron} ({run.timezone})")
    console.print(grid if report.next_runs else "next runs: no active strategy")


def _account_line(account: Any) -> Group:
    if account.session_healthy is None:
        session = Text("session: no loss recorded")
    elif account.session_healthy:
        session = Text(f"session: healthy since {when_text(account.session_seen_at)}", style="green")
    else:
        session = Text(
            f"session: LOST since {when_text(account.session_seen_at)}: {account.session_detail}",
            style="bold red",
        )
    if account.snapshot_at is None:
        money = Text("cash / equity: no portfolio snapshot yet (`ibflow serve` takes one every 5 minutes)")
    else:
        money = Text.assemble(
            f"cash {money_text(account.cash)}  equity {money_text(account.equity)}  unrealized ",
            signed(account.unrealized_pnl),
            f"  (as of {when_text(account.snapshot_at)})",
        )
    today = Text.assemble("today's realized P&L ", signed(account.realized_today))
    kind = (
        Text(f" ({account.kind})", style="bold red" if "LIVE" in account.kind else "") if account.kind else ""
    )
    return Group(
        Text.assemble(Text(f"account {account.account_id}", style="bold"), kind), session, money, today
    )


def _positions_table(items: list[Any], *, title: str) -> Any:
    grid = table(
        title,
        "id",
        "strategy",
        "symbol",
        "qty",
        "avg cost",
        "stop",
        "target",
        "last",
        "unrealized",
        numeric=("id", "qty", "avg cost", "stop", "target", "last", "unrealized"),
    )
    for item in items:
        grid.add_row(
            str(item.id),
            item.strategy,
            item.symbol,
            quantity_text(item.quantity),
            price_text(item.avg_cost, item.tick),
            price_text(item.stop, item.tick) or Text("none", style="bold red"),
            price_text(item.target, item.tick),
            price_text(item.market_price, item.tick),
            signed(item.unrealized_pnl),
        )
    return grid if items else f"{title}: none"


def _orders_table(items: list[Any], *, title: str) -> Any:
    grid = table(
        title,
        "id",
        "strategy",
        "symbol",
        "role",
        "side",
        "qty",
        "filled",
        "type",
        "price",
        "state",
        "reason",
        numeric=("id", "qty", "filled", "price"),
        wrap=("reason",),
    )
    for item in items:
        price = item.limit_price if item.limit_price is not None else item.stop_price
        grid.add_row(
            str(item.id),
            item.strategy,
            item.symbol,
            item.role,
            item.side,
            quantity_text(item.quantity),
            quantity_text(item.filled_quantity),
            item.order_type,
            price_text(price, item.tick),
            item.state,
            item.reason or "",
        )
    return grid if items else f"{title}: none"


@app.command()
def positions(strategy: StrategyOption = None, json_output: JsonOption = False) -> None:
    """Open positions with their stop, target and unrealized P&L (at the last snapshot's prices)."""
    from ibflow.workflow.queries.trading_views import open_positions

    def query(container: Any) -> Any:
        with container.read_sessions() as session:
            return open_positions(session, strategy_id=strategy_id_of(session, strategy))

    items = read(query)
    if json_output:
        print_json([item.as_dict() for item in items])
        return
    console.print(_positions_table(items, title=f"open positions ({len(items)})"))
    priced = [item.priced_at for item in items if item.priced_at is not None]
    if priced:
        console.print(f"last prices as of {when_text(min(priced))}")


@app.command()
def orders(
    state: Annotated[
        str | None, typer.Option("--state", help="working (every unfinished order) or one order state.")
    ] = None,
    strategy: StrategyOption = None,
    limit: LimitOption = 50,
    json_output: JsonOption = False,
) -> None:
    """Orders, newest first."""
    from ibflow.workflow.queries.trading_views import list_orders, order_states

    if state is not None and state not in order_states():
        raise fail(
            ValidationError(f"--state {state!r} is not known; use one of: {', '.join(order_states())}", {})
        )

    def query(container: Any) -> Any:
        with container.read_sessions() as session:
            return list_orders(
                session, state=state, strategy_id=strategy_id_of(session, strategy), limit=limit
            )

    items = read(query)
    if json_output:
        print_json([item.as_dict() for item in items])
        return
    console.print(_orders_table(items, title=f"orders ({len(items)})"))


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise fail(
            ValidationError(f"--since {value!r} is not a date: use YYYY-MM-DD or YYYY-MM-DDTHH:MM", {})
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@app.command()
def trades(
    since: Annotated[
        str | None, typer.Option("--since", help="Closed on or after (YYYY-MM-DD, UTC).")
    ] = None,
    strategy: StrategyOption = None,
    limit: LimitOption = 100,
    json_output: JsonOption = False,
) -> None:
    """Closed trades with their P&L, newest first."""
    from ibflow.workflow.queries.trading_views import list_trades

    start = _since(since)

    def query(container: Any) -> Any:
        with container.read_sessions() as session:
            return list_trades(
                session, since=start, strategy_id=strategy_id_of(session, strategy), limit=limit
            )

    items = read(query)
    if json_output:
        print_json([item.as_dict() for item in items])
        return
    grid = table(
        f"closed trades ({len(items)}, times UTC)",
        "id",
        "strategy",
        "symbol",
        "qty",
        "entry",
        "exit",
        "net P&L",
        "R",
        "exit reason",
        "closed",
        numeric=("id", "qty", "entry", "exit", "net P&L", "R"),
        wrap=("exit reason",),
    )
    for item in items:
        grid.add_row(
            str(item.id),
            item.strategy,
            item.symbol,
            quantity_text(item.quantity),
            price_text(item.entry_price, item.tick),
            price_text(item.exit_price, item.tick),
            signed(item.net_pnl),
            "" if item.r_multiple is None else f"{item.r_multiple:.2f}",
            item.exit_reason or "",
            short_when(item.closed_at),
        )
    console.print(grid if items else "closed trades: none")


@app.command()
def signals(
    strategy: StrategyOption = None,
    action: Annotated[str | None, typer.Option("--action", help="BUY, SELL, HOLD or NO_SIGNAL.")] = None,
    limit: LimitOption = 50,
    json_output: JsonOption = False,
) -> None:
    """The analyst's signals and what came of each, newest first."""
    from ibflow.db.states import SignalAction
    from ibflow.workflow.queries.trading_views import list_signals

    actions = [a.value for a in SignalAction]
    if action is not None and action.upper() not in actions:
        raise fail(ValidationError(f"--action {action!r} is not known; use one of: {', '.join(actions)}", {}))

    def query(container: Any) -> Any:
        with container.read_sessions() as session:
            return list_signals(
                session, strategy_id=strategy_id_of(session, strategy), action=action, limit=limit
            )

    items = read(query)
    if json_output:
        print_json([item.as_dict() for item in items])
        return
    grid = table(
        f"signals ({len(items)}, times UTC; levels are entry / stop / target)",
        "id",
        "exec",
        "strategy",
        "action",
        "conf",
        "levels",
        "outcome",
        "when",
        "reason",
        numeric=("id", "exec", "conf"),
        wrap=("levels", "reason"),
    )
    for item in items:
        levels = [price_text(value, item.tick) for value in (item.entry, item.stop_loss, item.take_profit)]
        grid.add_row(
            str(item.id),
            str(item.execution_id or ""),
            item.strategy,
            item.action,
            "" if item.confidence is None else f"{item.confidence:.2f}",
            " / ".join(levels) if any(levels) else "",
            item.outcome or "",
            short_when(item.created_at),
            "" if item.outcome == "ordered" else item.reason or "",
        )
    console.print(grid if items else "signals: none")
