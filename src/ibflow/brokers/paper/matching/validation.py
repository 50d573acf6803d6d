"""Refuse bad orders before they touch the books, naming everything that is wrong.

Every refusal is an ``OrderRejected`` raised before any row is written, so a refused order changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from ibflow.brokers.base import BracketRequest, OrderChange, OrderRequest
from ibflow.brokers.paper.market.universe import Instrument, Universe
from ibflow.core.errors import OrderRejected
from ibflow.core.money import is_on_tick
from ibflow.db.states import OrderSide, OrderType

MAX_QUANTITY = Decimal(1_000_000_000)
MAX_PRICE = Decimal(1_000_000_000)
_NEEDS_LIMIT = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
_NEEDS_STOP = frozenset({OrderType.STOP, OrderType.STOP_LIMIT})


def quantity_problems(quantity: Decimal) -> list[str]:
    """Return what is wrong with an order quantity (whole shares, positive, not absurd)."""
    if quantity <= 0:
        return [f"quantity {quantity} must be positive"]
    problems = []
    if quantity != quantity.to_integral_value():
        problems.append(f"quantity {quantity} is not a whole number of shares")
    if quantity > MAX_QUANTITY:
        problems.append(f"quantity {quantity} is above the paper broker's limit of {MAX_QUANTITY}")
    return problems


def price_problems(name: str, price: Decimal, tick: Decimal) -> list[str]:
    """Return what is wrong with one price (above zero, on the tick)."""
    if price <= 0:
        return [f"{name} {price} must be above zero"]
    if price > MAX_PRICE:
        return [f"{name} {price} is above the paper broker's limit of {MAX_PRICE}"]
    if not is_on_tick(price, tick):
        return [f"{name} {price} is off the {tick} tick"]
    return []


def _prices(order_type: OrderType, limit: Decimal | None, stop: Decimal | None, tick: Decimal) -> list[str]:
    problems = []
    for name, value, needed in (
        ("limit price", limit, order_type in _NEEDS_LIMIT),
        ("stop price", stop, order_type in _NEEDS_STOP),
    ):
        if needed and value is None:
            problems.append(f"a {order_type.value} order needs a {name}")
        elif not needed and value is not None:
            problems.append(f"a {order_type.value} order takes no {name}")
        elif value is not None:
            problems.extend(price_problems(name, value, tick))
    return problems


def check_order(order: OrderRequest, universe: Universe, label: str = "order") -> Instrument:
    """Return the order's instrument, or raise ``OrderRejected`` naming every problem of ``order``."""
    instrument = universe.get(order.conid)
    if instrument is None:
        raise OrderRejected(f"{label} {order.client_order_id} refused: unknown conid {order.conid}")
    problems = quantity_problems(order.quantity)
    problems += _prices(order.order_type, order.limit_price, order.stop_price, instrument.min_tick)
    if problems:
        raise OrderRejected(f"{label} {order.client_order_id} refused: " + "; ".join(problems))
    return instrument


def check_bracket(
    bracket: BracketRequest, universe: Universe, last_price: Callable[[], Decimal]
) -> Instrument:
    """Check the three legs and how they fit: opposite sides, same size, stop and target around the entry."""
    parent, stop, target = bracket.parent, bracket.stop_loss, bracket.take_profit
    instrument = check_order(parent, universe, "bracket parent")
    check_order(stop, universe, "stop-loss child")
    check_order(target, universe, "take-profit child")
    problems = _bracket_shape(parent, stop, target)
    if not problems:
        entry = parent.limit_price if parent.limit_price is not None else last_price()
        problems = bracket_side_problems(parent.side, entry, stop.stop_price, target.limit_price)
    if problems:
        raise OrderRejected(f"bracket {parent.client_order_id} refused: " + "; ".join(problems))
    return instrument


def _bracket_shape(parent: OrderRequest, stop: OrderRequest, target: OrderRequest) -> list[str]:
    problems = []
    if parent.order_type not in (OrderType.MARKET, OrderType.LIMIT):
        problems.append(f"the parent must be a market or limit order, not {parent.order_type.value}")
    if stop.order_type not in _NEEDS_STOP:
        problems.append(
            f"the stop-loss child must be a stop or stop-limit order, not {stop.order_type.value}"
        )
    if target.order_type is not OrderType.LIMIT:
        problems.append(f"the take-profit child must be a limit order, not {target.order_type.value}")
    for name, child in (("stop-loss", stop), ("take-profit", target)):
        if child.conid != parent.conid:
            problems.append(f"the {name} child is for conid {child.conid}, the parent for {parent.conid}")
        if child.side is parent.side:
            problems.append(f"the {name} child must be on the other side of the parent ({parent.side.value})")
        if child.quantity != parent.quantity:
            problems.append(f"the {name} child's quantity {child.quantity} differs from the parent's")
    return problems


def bracket_side_problems(
    side: OrderSide, entry: Decimal, stop_price: Decimal | None, target_price: Decimal | None
) -> list[str]:
    """Return what is wrong with where the stop and the target sit around the entry."""
    below, above = ("below", "above") if side is OrderSide.BUY else ("above", "below")
    problems = []
    if stop_price is not None and not _beyond(stop_price, entry, below):
        problems.append(
            f"the stop-loss {stop_price} must be {below} the entry {entry} of a {side.value} bracket"
        )
    if target_price is not None and not _beyond(target_price, entry, above):
        problems.append(
            f"the take-profit {target_price} must be {above} the entry {entry} of a {side} bracket"
        )
    return problems


def _beyond(price: Decimal, entry: Decimal, where: str) -> bool:
    return price < entry if where == "below" else price > entry


def check_change(
    change: OrderChange,
    *,
    order_type: OrderType,
    tick: Decimal,
    filled: Decimal,
    is_child: bool,
    label: str,
) -> None:
    """Raise ``OrderRejected`` unless ``change`` can apply to a working order of ``order_type``."""
    problems = []
    if change.quantity is not None:
        if is_child:
            problems.append("a bracket child's quantity follows its parent's fills and cannot be changed")
        else:
            problems += quantity_problems(change.quantity)
            if change.quantity <= filled:
                problems.append(f"quantity {change.quantity} must be above the {filled} already filled")
    for name, value, allowed in (
        ("limit price", change.limit_price, order_type in _NEEDS_LIMIT),
        ("stop price", change.stop_price, order_type in _NEEDS_STOP),
    ):
        if value is None:
            continue
        if not allowed:
            problems.append(f"a {order_type.value} order has no {name} to change")
        else:
            problems += price_problems(name, value, tick)
    if change.quantity is None and change.limit_price is None and change.stop_price is None:
        problems.append("the change changes nothing")
    if problems:
        raise OrderRejected(f"{label} modification refused: " + "; ".join(problems))
