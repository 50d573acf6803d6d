"""What a simulator run is configured with (the CLI flags and the test helper build one of these)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from ibflow.brokers.ibkr.simulator.questions import MESSAGES
from ibflow.core.errors import ValidationError

PAPER_ACCOUNT = re.compile(r"^DU\d{5,8}$")
DEFAULT_ACCOUNT_ID = "DU1234567"
"""An account id shaped like an IBKR paper account (``DU`` + digits)."""


@dataclass(frozen=True)
class SimulatorConfig:
    """One simulator: its account, clock, session lifetimes, limits and initial faults."""

    account_id: str = DEFAULT_ACCOUNT_ID
    starting_cash: Decimal = Decimal(1_000_000)
    seed: int = 20260101
    calendar: str = "always"
    start: datetime | None = None
    time_scale: float = 1.0
    logged_in: bool = True
    idle_timeout: timedelta = timedelta(minutes=6)
    sso_lifetime: timedelta = timedelta(minutes=10)
    reset_hour_new_york: int = 0
    rate_limits: bool = True
    global_rate_per_second: int = 10
    penalty_box: timedelta = timedelta(0)
    cancel_delay: timedelta = timedelta(seconds=2)
    positions_cache: timedelta = timedelta(minutes=1)
    reply_timeout: timedelta = timedelta(seconds=60)
    questions: tuple[str, ...] = ()
    user_name: str = "simuser1"
    user_id: int = 99996016

    def __post_init__(self) -> None:
        problems: dict[str, str] = {}
        if not PAPER_ACCOUNT.match(self.account_id):
            problems["account"] = (
                f"a paper account id is DU and 5-8 digits (DU1234567), got {self.account_id!r}"
            )
        if self.time_scale < 0:
            problems["time-scale"] = f"must be 0 (stopped) or more, got {self.time_scale}"
        unknown = [q for q in self.questions if q not in MESSAGES]
        if unknown:
            problems["questions"] = f"unknown message ids {unknown}; known: {', '.join(sorted(MESSAGES))}"
        if self.idle_timeout <= timedelta(0):
            problems["idle-timeout"] = f"must be positive, got {self.idle_timeout.total_seconds()} s"
        if self.penalty_box < timedelta(0):
            problems["penalty-box"] = f"cannot be negative, got {self.penalty_box.total_seconds()} s"
        if problems:
            raise ValidationError("invalid gateway simulator options", problems)
