"""A cost cap over many executions (a backtest's ``--budget``): the call that would pass it is not made."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ibflow.core.errors import BudgetExceeded
from ibflow.llm.costs import CallEstimate


@dataclass
class RunCap:
    """USD a whole run may spend on LLM calls (cached answers cost nothing); ``None``: no cap.

    ``reached`` is set, with the reason, when a call was refused: the run stops there.
    """

    limit: Decimal | None
    spent: Decimal = Decimal(0)
    reached: str | None = None

    def check(self, estimate: CallEstimate) -> None:
        """Raise ``BudgetExceeded`` (and remember why) when this call's ceiling would pass the cap."""
        if self.limit is None or self.spent + estimate.cost <= self.limit:
            return
        self.reached = (
            f"the backtest's LLM budget USD {self.limit} would be exceeded "
            f"(spent {self.spent}, the next call up to {estimate.cost})"
        )
        raise BudgetExceeded("run", self.reached)

    def spend(self, cost: Decimal) -> None:
        """Count what a call made cost."""
        self.spent += cost
