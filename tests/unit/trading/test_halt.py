"""`trading halt` (defect 8): once it returns no entry reaches the broker; unfilled entries are cancelled."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from tests.unit.trading.risk_cases import add_trade
from tests.unit.trading.trading_world import ACCOUNT, World

from ibflow.brokers.base import BracketRequest, PlacedOrder
from ibflow.brokers.paper.faults import FaultyBroker
from ibflow.charts.local_store import LocalChartStore
from ibflow.core.ids import AccountId
from ibflow.core.settings import ChartSettings
from ibflow.db.states import OrderRole, OrderState, TradingStateValue
from ibflow.llm.providers.rules import RulesAnalyst
from ibflow.marketdata.cache import InProcessTtlCache
from ibflow.trading.lifecycle.submission import SubmitResult, SubmitStatus
from ibflow.trading.positions.halting import HaltReport, settle_halt
from ibflow.trading.risk.kill_switch import current_state, set_state
from ibflow.trading.risk.runtime_settings import set_setting
from ibflow.workflow.deps import BrokerHandle, WorkflowDeps
from ibflow.workflow.runtime.jobs import periodic_jobs


def _halt(world: World) -> HaltReport:
    """What `ibflow trading halt` does: commit HALTED, then settle the halt in the account."""
    with world.sessions() as session:
        set_state(
            session,
            value=TradingStateValue.HALTED,
            actor="trader-1",
            reason="news pending",
            at=world.clock.now(),
            actor_is_admin=False,
        )
        session.commit()
    return settle_halt(
        world.sessions,
        broker=world.broker,
        locks=world.locks,
        account_id=ACCOUNT,
        clock=world.clock,
        risk_env=world.risk_env,
        broker_env=world.broker_env,
    )


def _resting_entry(world: World) -> int:
    """Place an entry that rests below the market (it does not fill soon); return its order id."""
    strategy_id = world.strategy()
    price = world.price()
    intent = world.intent(
        strategy_id,
        entry=(price * Decimal("0.985")).quantize(Decimal("0.01")),
        stop=(price * Decimal("0.97")).quantize(Decimal("0.01")),
        target=(price * Decimal("1.05")).quantize(Decimal("0.01")),
    )
    result = world.submit(intent)
    assert result.status is SubmitStatus.PLACED
    return result.order_ids[0]


def test_a_halt_cancels_unfilled_entries_and_keeps_protection(world: World) -> None:
    held_by = world.strategy(name="holder")
    world.enter(held_by, world.plan("target", quiet=timedelta(hours=3)))
    world.advance(timedelta(minutes=2))
    world.track()
    assert world.held(held_by) > 0
    entry_id = _resting_entry(world)

    report = _halt(world)

    assert report.cancelled == [entry_id]
    assert world.order(entry_id).state is OrderState.CANCELLED
    stops = [o for o in world.orders(OrderRole.STOP) if o.state is OrderState.WORKING]
    assert len(stops) == 1  # the held position keeps its stop
    assert stops[0].quantity - stops[0].filled_quantity == world.held(held_by)


def test_a_halt_keeps_entries_when_the_setting_says_so(world: World) -> None:
    entry_id = _resting_entry(world)
    with world.sessions() as session:
        set_setting(
            session,
            key="halt_cancels_entries",
            value="false",
            actor="admin-1",
            at=world.clock.now(),
            env=world.risk_env,
            broker_env=world.broker_env,
        )
        session.commit()

    report = _halt(world)

    assert report.kept
    assert world.order(entry_id).state is OrderState.WORKING


class _SlowBroker(FaultyBroker):
    """Holds a bracket inside the broker call until the test lets it go."""

    def __init__(self, world: World) -> None:
        super().__init__(world.paper)
        self.inside = threading.Event()
        self.release = threading.Event()

    def place_bracket(self, account_id: AccountId, bracket: BracketRequest) -> list[PlacedOrder]:
        self.inside.set()
        assert self.release.wait(10), "the test never released the send"
        return super().place_bracket(account_id, bracket)


def test_a_halt_returns_only_after_a_send_under_way_has_finished(world: World) -> None:
    slow = _SlowBroker(world)
    world.broker = slow
    strategy_id = world.strategy()
    price = world.price()
    intent = world.intent(
        strategy_id,
        entry=(price * Decimal("0.985")).quantize(Decimal("0.01")),
        stop=(price * Decimal("0.97")).quantize(Decimal("0.01")),
        target=(price * Decimal("1.05")).quantize(Decimal("0.01")),
    )
    sent: list[SubmitResult] = []
    sender = threading.Thread(target=lambda: sent.append(world.submit(intent)))
    sender.start()
    assert slow.inside.wait(10)
    halted = threading.Event()
    halter = threading.Thread(target=lambda: (_halt(world), halted.set()))
    halter.start()

    # While the send is inside the broker call, the halt waits for the account lock.
    assert not halted.wait(0.5)
    slow.release.set()
    sender.join(10)
    halter.join(10)

    assert halted.is_set()
    assert [r.status for r in sent] == [SubmitStatus.PLACED]
    # The halt came after the send finished, so it cancelled the bracket's unfilled entry.
    assert world.order(sent[0].order_ids[0]).state is OrderState.CANCELLED


def test_the_daily_loss_halt_of_the_tracking_job_cancels_unfilled_entries(
    world: World, tmp_path: Path
) -> None:
    """An automatic halt is settled as a trader's is: the tracking job cancels the unfilled entries."""
    entry_id = _resting_entry(world)
    with world.sessions() as session:  # a loss of 3,000 today: the default limit, 3 % of 100,000
        add_trade(session, strategy_id=None, net_pnl=Decimal(-3000), closed_at=world.clock.now())
        session.commit()
    deps = WorkflowDeps(
        sessions=world.sessions,
        clock=world.clock,
        locks=world.locks,
        broker_for=lambda _mode: BrokerHandle(world.broker, ACCOUNT),
        analyst_for=lambda _name: RulesAnalyst(),
        chart_store=LocalChartStore(tmp_path),
        cache=InProcessTtlCache(),
        risk_settings=world.risk_env,
        broker_settings=world.broker_env,
        chart_settings=ChartSettings(),
    )
    jobs = periodic_jobs(deps, [BrokerHandle(world.broker, ACCOUNT)])
    [track] = [job for job in jobs if job.name.startswith("track_orders")]

    track.run()

    with world.sessions() as session:
        assert current_state(session).state is TradingStateValue.HALTED
    assert world.order(entry_id).state is OrderState.CANCELLED
