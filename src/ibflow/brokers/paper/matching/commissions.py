"""IBKR Pro fixed commissions: USD 0.005 a share, at least USD 1 an order, at most 1 % of the trade value.

The minimum and the cap apply to the order, not to each fill. An order that fills in parts is charged, on
each fill, what the rule gives for everything filled so far minus what was already charged: the first fill
pays the minimum (or 1 % of its value when that is less), later fills pay only the increase. The sum over
the fills is therefore exactly the rule applied to the whole executed quantity and value.
"""

from __future__ import annotations

from decimal import Decimal

from ibflow.core.money import ZERO

PER_SHARE = Decimal("0.005")
MINIMUM_PER_ORDER = Decimal(1)
MAXIMUM_FRACTION_OF_VALUE = Decimal("0.01")


def order_commission(quantity: Decimal, value: Decimal) -> Decimal:
    """Return the commission of an order that executed ``quantity`` shares worth ``value`` in total."""
    if quantity <= 0:
        return ZERO
    return min(max(PER_SHARE * quantity, MINIMUM_PER_ORDER), MAXIMUM_FRACTION_OF_VALUE * value)


def fill_commission(
    filled_before: Decimal, value_before: Decimal, quantity: Decimal, price: Decimal
) -> Decimal:
    """Return the commission of one fill of ``quantity`` at ``price`` after the order's earlier fills."""
    after = order_commission(filled_before + quantity, value_before + quantity * price)
    return after - order_commission(filled_before, value_before)
