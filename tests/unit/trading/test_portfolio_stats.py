"""Trade statistics on hand-built trades: every number below is worked out by hand in the comments."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from tests.unit.trading.risk_cases import add_trade, seed_strategy

from ibflow.core.clock import ManualClock
from ibflow.db.engine import SessionFactory
from ibflow.db.models import Trade
from ibflow.trading.portfolio.valuation import (
    TradeStatistics,
    compute_statistics,
    max_drawdown,
    trade_statistics,
)

# In closing order: (net P&L, R multiple).
TRADES = [
    (Decimal(300), Decimal("1.5")),
    (Decimal(-100), Decimal("-0.5")),
    (Decimal(-200), Decimal("-1.0")),
    (Decimal(500), Decimal("2.5")),
    (Decimal(0), None),
    (Decimal(-400), Decimal("-2.0")),
]


def test_statistics_of_a_mixed_set_of_trades(sessions: SessionFactory, clock: ManualClock) -> None:
    with sessions() as session:
        strategy = seed_strategy(session, clock)
        other = seed_strategy(session, clock, name="msft-swing")
        start = clock.now() - timedelta(days=10)
        # Written out of order: statistics must follow the closing times, not the row ids.
        for index in (3, 0, 5, 1, 4, 2):
            pnl, r_multiple = TRADES[index]
            closed_at = start + timedelta(days=index)
            add_trade(
                session, strategy_id=strategy.id, net_pnl=pnl, r_multiple=r_multiple, closed_at=closed_at
            )
        add_trade(session, strategy_id=other.id, net_pnl=Decimal(-9_999), closed_at=start)
        add_trade(
            session, strategy_id=strategy.id, net_pnl=Decimal(7_777), closed_at=start, account_id="DU-OTHER"
        )
        session.commit()

        stats = trade_statistics(session, account_id="PAPER-1", strategy_id=strategy.id)

    assert stats == TradeStatistics(
        trades=6,
        wins=2,
        losses=3,
        breakeven=1,
        win_rate=Decimal("0.33333333"),  # 2 / 6
        net_pnl=Decimal(100),  # 300 - 100 - 200 + 500 + 0 - 400
        gross_profit=Decimal(800),
        gross_loss=Decimal(700),
        commissions=Decimal(12),  # 2 a trade
        average_win=Decimal(400),  # 800 / 2
        average_loss=Decimal("-233.33333333"),  # -700 / 3
        profit_factor=Decimal("1.14285714"),  # 800 / 700
        largest_win=Decimal(500),
        largest_loss=Decimal(-400),
        average_r=Decimal("0.1"),  # (1.5 - 0.5 - 1.0 + 2.5 - 2.0) / 5; the breakeven trade has no R
        max_drawdown=Decimal(400),  # curve 300, 200, 0, 500, 500, 100: from the 500 peak down to 100
    )
    assert stats.as_dict()["profit_factor"] == "1.14285714"
    assert stats.as_dict()["trades"] == 6


def test_statistics_of_no_trades() -> None:
    stats = compute_statistics([])
    assert (stats.trades, stats.wins, stats.losses, stats.breakeven) == (0, 0, 0, 0)
    assert stats.net_pnl == stats.max_drawdown == stats.gross_profit == stats.gross_loss == 0
    assert stats.win_rate is None
    assert stats.profit_factor is None
    assert stats.average_win is stats.average_loss is stats.average_r is None
    assert stats.largest_win is stats.largest_loss is None
    assert stats.as_dict()["win_rate"] is None


def _trade(net_pnl: str, day: int, clock: ManualClock) -> Trade:
    return Trade(
        net_pnl=Decimal(net_pnl),
        commissions=Decimal(1),
        r_multiple=None,
        closed_at=clock.now() + timedelta(days=day),
    )


def test_statistics_when_every_trade_wins(clock: ManualClock) -> None:
    stats = compute_statistics([_trade("120", 1, clock), _trade("80", 2, clock)])
    assert stats.win_rate == 1
    assert stats.profit_factor is None  # no losing trade: infinite, reported as None
    assert stats.average_loss is None
    assert stats.largest_loss is None
    assert stats.average_win == 100
    assert stats.max_drawdown == 0
    assert stats.average_r is None


def test_statistics_when_every_trade_loses(clock: ManualClock) -> None:
    stats = compute_statistics([_trade("-50", 2, clock), _trade("-30", 1, clock)])
    assert stats.win_rate == 0
    assert stats.profit_factor == 0
    assert stats.average_win is None
    assert stats.largest_loss == -50
    # The curve starts at 0 before the first trade: -30 then -80, a drawdown of 80.
    assert stats.max_drawdown == 80


def test_max_drawdown_is_measured_from_the_running_peak() -> None:
    assert max_drawdown([Decimal(100), Decimal(-50), Decimal(200), Decimal(-120), Decimal(-90)]) == 210
    assert max_drawdown([Decimal(10), Decimal(20)]) == 0
