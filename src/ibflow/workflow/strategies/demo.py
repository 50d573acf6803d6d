"""The demo a new user sees: an admin user and a few strategies on a one-minute schedule."""

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
                cron="* * * * *",
                timezone="America/New_York",
                description=f"Demo: the rules analyst on {symbol}, every minute, paper account.",
            )
            create_strategy(session, data=data, contracts=contracts, clock=clock)
            created.strategies.append(name)
        session.commit()
    return created
