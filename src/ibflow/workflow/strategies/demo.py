"""The demo a new user sees: an admin user and six strategies that trade within minutes of ``ibflow serve``.

Under the default account limits (at most 5 positions, exposure at most half the equity) all six can hold a
position at once up to the position count: each entry is capped at ``DEMO_RISK["max_position_value"]``, so
six of them stay under the exposure limit. They run every 5 minutes with the ``rules-intraday`` analyst,
whose stop and target sit well inside an hour's move, so stops and targets close positions on the simulated
market within the first hour; a strategy may enter ``max_entries_per_day`` times a day. A trend strategy
buys only while its symbol trends up (on a falling symbol it says SELL, which with nothing held ends the run
without an order).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from ibflow.core.clock import Clock
from ibflow.db.engine import SessionFactory
from ibflow.db.models.users import User
from ibflow.db.states import UserRole
from ibflow.marketdata.contracts import ContractService
from ibflow.users.service import create_user, generate_password
from ibflow.workflow.strategies.lookup import IndicatorInput, StrategyInput, create_strategy

DEMO_ADMIN = "admin"
DEMO_CRON = "*/5 * * * *"
DEMO_ANALYST = "rules-intraday"
DEMO_RISK: dict[str, str | int] = {
    "max_position_value": "8000",  # 6 x 8,000 = 48,000: under half of the 100,000 paper equity
    "max_entries_per_day": 10,
}

_TREND = (
    IndicatorInput("sma", {"period": 20}),
    IndicatorInput("sma", {"period": 50}),
    IndicatorInput("macd", {}),
    IndicatorInput("rsi", {"period": 14}),
)
_BANDS = (
    IndicatorInput("ema", {"period": 21}),
    IndicatorInput("bbands", {"period": 20, "width": 2.0}),
    IndicatorInput("supertrend", {"period": 10, "multiplier": 3.0}),
    IndicatorInput("atr", {"period": 14}),
)
DEMO_STRATEGIES: tuple[tuple[str, str, tuple[IndicatorInput, ...]], ...] = (
    ("demo-aapl-trend", "AAPL", _TREND),
    ("demo-msft-trend", "MSFT", _TREND),
    ("demo-spy-bands", "SPY", _BANDS),
    ("demo-nvda-bands", "NVDA", _BANDS),
    ("demo-xom-trend", "XOM", _TREND),
    ("demo-jpm-bands", "JPM", _BANDS),
)


@dataclass
class DemoCreated:
    """What ``seed_demo`` made; ``password`` is None when the demo already existed."""

    username: str = DEMO_ADMIN
    password: str | None = None
    strategies: list[str] = field(default_factory=list)


def seed_demo(sessions: SessionFactory, *, contracts: ContractService, clock: Clock) -> DemoCreated:
    """Create the admin user and the demo strategies once; a second call changes nothing."""
    created = DemoCreated()
    with sessions() as session:
        if session.scalars(select(User.id).where(User.username == DEMO_ADMIN)).first() is not None:
            return created
        created.password = generate_password()
        create_user(session, username=DEMO_ADMIN, password=created.password, role=UserRole.ADMIN, clock=clock)
        for name, symbol, indicators in DEMO_STRATEGIES:
            data = StrategyInput(
                name=name,
                symbol=symbol,
                indicators=indicators,
                cron=DEMO_CRON,
                timezone="America/New_York",
                analyst=DEMO_ANALYST,
                risk=dict(DEMO_RISK),
                description=f"Demo: the intraday rules analyst on {symbol}, every 5 minutes, paper account.",
            )
            create_strategy(session, data=data, contracts=contracts, clock=clock)
            created.strategies.append(name)
        session.commit()
    return created
