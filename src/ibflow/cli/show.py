"""``ibflow show EXECUTION``: why the bot did what it did, step by step."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.text import Text

from ibflow.cli.common import console
from ibflow.cli.render import (
    JsonOption,
    money_text,
    price_text,
    print_json,
    quantity_text,
    read,
    table,
    when_text,
)
from ibflow.cli.root import app
from ibflow.core.display import decimal_text

_STATUS_STYLE = {"succeeded": "green", "failed": "bold red", "skipped": "yellow"}


@app.command()
def show(
    execution: Annotated[
        int, typer.Argument(help="Execution id (see `ibflow executions`).", show_default=False)
    ],
    json_output: JsonOption = False,
) -> None:
    """One execution: its 11 steps, the signal and reasoning, risk and sizing, charts, orders and fills."""
    from ibflow.workflow.queries.execution_detail import execution_detail

    def query(container: Any) -> Any:
        with container.read_sessions() as session:
            found = execution_detail(session, execution)
        store = container.chart_store
        paths = {chart["id"]: _locate(store, chart["store_key"]) for chart in found.charts}
        return found, paths

    detail, paths = read(query)
    if json_output:
        data = detail.as_dict()
        for chart in data["charts"]:
            chart["location"] = paths[chart["id"]]
        print_json(data)
        return
    _print_detail(detail, paths)


def _locate(store: Any, key: str) -> str:
    try:
        return str(store.locate(key))
    except Exception:  # a pruned or invalid key still shows its key
        return key


def _print_detail(detail: Any, paths: dict[int, str]) -> None:
    when = when_text(detail.scheduled_for or detail.started_at)
    console.print(
        Text.assemble(
            (f"execution {detail.id}", "bold"),
            f"  {detail.strategy} ({detail.symbol})  {detail.trigger}  {when}  ",
            (detail.status, _STATUS_STYLE.get(detail.status, "")),
        )
    )
    grid = table("steps", "#", "step", "status", "ms", "why", numeric=("#", "ms"), wrap=("why",))
    for step in detail.steps:
        grid.add_row(
            str(step.index),
            step.name,
            Text(step.status, style=_STATUS_STYLE.get(step.status, "")),
            str(step.duration_ms),
            step.note,
        )
    console.print(grid)
    if detail.error:
        console.print(Text(f"failed: {detail.error}", style="red"))
    elif detail.stop_reason:
        console.print(f"stopped: {detail.stop_reason}")
    _print_signal(detail)
    _print_risk(detail.risk, detail.tick)
    for call in detail.llm_calls:
        console.print(
            f"LLM call {call['id']}: {call['provider']} {call['model']}, {call['input_tokens']} in / "
            f"{call['output_tokens']} out tokens, cost {call['cost']} USD, {call['latency_ms']} ms"
            + (f", error: {call['error']}" if call["error"] else "")
        )
    for chart in detail.charts:
        console.print(f"chart {chart['timeframe']}: {paths[chart['id']]}", soft_wrap=True)
    _print_orders(detail)


def _print_signal(detail: Any) -> None:
    signal = detail.signal
    if signal is None:
        console.print("signal: none (the run ended before the analyst answered)")
        return
    tick = detail.tick
    levels = "  ".join(
        f"{name} {price_text(_decimal(signal[key]), tick)}"
        for name, key in (("entry", "entry"), ("stop", "stop_loss"), ("target", "take_profit"))
        if signal[key] is not None
    )
    confidence = "" if signal["confidence"] is None else f" confidence {float(signal['confidence']):.2f}"
    console.print(
        Text.assemble(("signal ", "bold"), f"{signal['id']}: {signal['action']}{confidence}  {levels}")
    )
    if signal["reason_detail"]:
        console.print(f"  reason: {signal['reason_detail']}")
    if signal["reasoning"]:
        console.print(f"  analyst: {signal['reasoning']}")
    for factor in signal["key_factors"]:
        console.print(f"   - {factor}")
    if signal["model"]:
        console.print(f"  model: {signal['model']}")


def _print_risk(risk: dict[str, Any] | None, tick: Any) -> None:
    if risk is None:
        return
    verdict = "allowed" if risk.get("allowed") else f"blocked ({risk.get('reason')})"
    console.print(Text.assemble(("risk ", "bold"), f"{verdict}: {risk.get('detail', '')}"))
    if risk.get("allowed"):
        entry, stop, target = (
            price_text(_decimal(risk.get(key)), tick) for key in ("entry", "stop", "target")
        )
        size = quantity_text(_decimal(risk.get("quantity")))
        console.print(f"  size {size} at {entry}, stop {stop}, target {target}")
    sizing = risk.get("sizing") or {}
    if sizing:
        shown = {key: _plain(value) for key, value in sizing.items()}
        console.print("  sizing: " + json.dumps(shown, separators=(", ", ": ")), soft_wrap=True)


def _print_orders(detail: Any) -> None:
    if not detail.orders:
        console.print("orders: none")
        return
    for history in detail.orders:
        order = history.order
        price = order.limit_price if order.limit_price is not None else order.stop_price
        console.print(
            Text.assemble(
                ("order ", "bold"),
                f"{order.id} {order.client_order_id}: {order.role} {order.side} "
                f"{quantity_text(order.quantity)} {order.order_type} {price_text(price, order.tick)}",
                f" -> {order.state}",
            )
        )
        for event in history.events:
            reason = f" ({event['reason']})" if event["reason"] else ""
            console.print(f"    {event['at'][:19]}Z  {event['from'] or 'new'} -> {event['to']}{reason}")
        for fill in history.fills:
            console.print(
                f"    {fill['at'][:19]}Z  fill {fill['side']} {quantity_text(_decimal(fill['quantity']))} "
                f"at {price_text(_decimal(fill['price']), order.tick)}, "
                f"commission {money_text(_decimal(fill['commission']))}"
            )


def _plain(value: Any) -> Any:
    from decimal import Decimal, InvalidOperation

    if not isinstance(value, str):
        return value
    try:
        return decimal_text(Decimal(value))  # "1000.8800000000000000" -> "1000.88"
    except InvalidOperation:
        return value


def _decimal(value: Any) -> Any:
    from decimal import Decimal

    return None if value is None else Decimal(str(value))
