"""Prices per model, the cost of a call, and the most a call can cost before it is made."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from ibflow.llm.chat import ChatRequest

PER_MILLION = Decimal(1_000_000)
CENT_FRACTION = Decimal("0.000001")
IMAGE_TOKENS = 1600  # a chart of up to 1568 px a side, as the providers count it, rounded up
CHARS_PER_TOKEN = 3  # on the low side, so estimates err high


@dataclass(frozen=True)
class Price:
    """USD per million input and output tokens."""

    input: Decimal
    output: Decimal


@dataclass(frozen=True)
class PriceTable:
    """Prices by model name; a model not listed costs ``default``."""

    prices: Mapping[str, Price]
    default: Price

    @classmethod
    def from_settings(
        cls, prices: Mapping[str, Mapping[str, Decimal]], default: Mapping[str, Decimal]
    ) -> PriceTable:
        """Build the table from the settings' nested mappings."""
        return cls(
            {model: Price(Decimal(p["input"]), Decimal(p["output"])) for model, p in prices.items()},
            Price(Decimal(default["input"]), Decimal(default["output"])),
        )

    def price(self, model: str) -> Price:
        """Return the model's price."""
        return self.prices.get(model, self.default)

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> Decimal:
        """Return what a call cost in USD (to the millionth)."""
        price = self.price(model)
        total = (price.input * input_tokens + price.output * output_tokens) / PER_MILLION
        return total.quantize(CENT_FRACTION)


@dataclass(frozen=True)
class CallEstimate:
    """The most a call may use: input tokens estimated from its text and images, output at the cap."""

    input_tokens: int
    output_tokens: int
    cost: Decimal
    seconds: float

    @property
    def tokens(self) -> int:
        """Return input plus output tokens."""
        return self.input_tokens + self.output_tokens


def estimate(request: ChatRequest, prices: PriceTable) -> CallEstimate:
    """Return the ceiling of what ``request`` can cost, to decide before the call whether it fits."""
    chars = len(request.system) + len(request.user) + (len(str(request.schema)) if request.schema else 0)
    input_tokens = math.ceil(chars / CHARS_PER_TOKEN) + IMAGE_TOKENS * len(request.images)
    output_tokens = request.max_output_tokens
    return CallEstimate(
        input_tokens,
        output_tokens,
        prices.cost(request.model, input_tokens, output_tokens),
        request.timeout_s,
    )
