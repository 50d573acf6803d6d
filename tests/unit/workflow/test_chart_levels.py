"""Which levels the daily chart marks: an open position's, else a live BUY signal's, with the last price."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session
from tests.factories import make_strategy

from ibflow.charts.levels import PriceLevel
from ibflow.db.engine import SessionFactory
from ibflow.db.models import Position, TradingSignal
from ibflow.db.states import PositionStatus, SignalAction
from ibflow.workflow.steps.chart_levels import chart_levels

NOW = datetime(2026, 3, 4, 18, 0, tzinfo=UTC)
LAST = Decimal("171.05")


def _signal(session: Session, strategy_id: int, action: SignalAction, **values: object) -> None:
    session.add(
        TradingSignal(
            strategy_id=strategy_id,
            action=action,
            entry=Decimal("170.00"),
            stop_loss=Decimal("164.50"),
            take_profit=Decimal("182.25"),
            created_at=NOW - timedelta(hours=1),
            **values,
        )
    )
    session.flush()


def test_nothing_is_marked_without_a_position_or_a_live_buy_signal(sessions: SessionFactory) -> None:
    with sessions() as session:
        strategy = make_strategy(session, now=NOW)
        _signal(session, strategy.id, SignalAction.HOLD)
        _signal(session, strategy.id, SignalAction.BUY, expires_at=NOW - timedelta(minutes=5))
        _signal(session, strategy.id, SignalAction.BUY, is_valid=False)
        assert chart_levels(session, strategy_id=strategy.id, as_of=NOW, last=LAST) == ()


def test_a_live_buy_signal_is_marked_with_the_last_price(sessions: SessionFactory) -> None:
    with sessions() as session:
        strategy = make_strategy(session, now=NOW)
        _signal(session, strategy.id, SignalAction.BUY, expires_at=NOW + timedelta(hours=2))
        assert chart_levels(session, strategy_id=strategy.id, as_of=NOW, last=LAST) == (
            PriceLevel("entry", 170.0),
            PriceLevel("stop", 164.5),
            PriceLevel("target", 182.25),
            PriceLevel("last", 171.05),
        )


def test_an_open_position_wins_over_a_signal(sessions: SessionFactory) -> None:
    with sessions() as session:
        strategy = make_strategy(session, now=NOW)
        _signal(session, strategy.id, SignalAction.BUY)
        session.add(
            Position(
                account_id="DU1",
                strategy_id=strategy.id,
                conid=strategy.conid,
                symbol=strategy.symbol,
                status=PositionStatus.OPEN,
                quantity=Decimal(10),
                avg_cost=Decimal("165.20"),
                stop_price=Decimal("158.40"),
                target_price=Decimal("182.00"),
                realized_pnl=Decimal(0),
                opened_at=NOW,
                updated_at=NOW,
            )
        )
        session.flush()
        assert chart_levels(session, strategy_id=strategy.id, as_of=NOW, last=LAST) == (
            PriceLevel("entry", 165.2),
            PriceLevel("stop", 158.4),
            PriceLevel("target", 182.0),
            PriceLevel("last", 171.05),
        )
