"""The schema on SQLite and PostgreSQL: migrations round-trip, types are exact, unique keys hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import Engine, inspect, select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from ibflow.db import migrate
from ibflow.db.base import Base
from ibflow.db.engine import make_engine
from ibflow.db.models import (
    Fill,
    Installation,
    Order,
    Strategy,
    StrategyExecution,
    WorkflowLineage,
)
from ibflow.db.states import (
    ExecutionStatus,
    ExecutionTrigger,
    OrderOrigin,
    OrderRole,
    OrderSide,
    OrderState,
    OrderType,
    StepStatus,
    StrategyMode,
    StrategyState,
    TimeInForce,
)

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 4, 17, 0, tzinfo=UTC)
NEW_YORK_WINTER = timezone(timedelta(hours=-5))


@pytest.fixture
def db(any_migrated_db_url: str) -> Engine:
    engine = make_engine(any_migrated_db_url)
    yield engine
    engine.dispose()


def _strategy(session: Session, name: str = "s1") -> Strategy:
    strategy = Strategy(
        name=name,
        conid=265598,
        symbol="AAPL",
        timeframes=["1d", "1w"],
        cron="*/5 * * * *",
        mode=StrategyMode.PAPER,
        state=StrategyState.ACTIVE,
        risk_per_trade=Decimal("0.01"),
        max_position_value=Decimal(10000),
        max_quantity=Decimal(100),
        min_reward_risk=Decimal("1.5"),
        min_confidence=Decimal("0.6"),
        max_entry_deviation=Decimal("0.02"),
        created_at=NOW,
        updated_at=NOW,
    )
    session.add(strategy)
    session.flush()
    return strategy


def _order(client_order_id: str, **overrides: object) -> Order:
    values: dict[str, object] = {
        "client_order_id": client_order_id,
        "account_id": "PAPER-1",
        "role": OrderRole.ENTRY,
        "origin": OrderOrigin.IBFLOW,
        "conid": 265598,
        "symbol": "AAPL",
        "side": OrderSide.BUY,
        "order_type": OrderType.LIMIT,
        "tif": TimeInForce.DAY,
        "quantity": Decimal(10),
        "limit_price": Decimal("190.12"),
        "state": OrderState.INTENT,
        "filled_quantity": Decimal(0),
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(overrides)
    return Order(**values)


def _fill(exec_id: str, account_id: str = "PAPER-1") -> Fill:
    return Fill(
        account_id=account_id,
        broker_exec_id=exec_id,
        conid=265598,
        side=OrderSide.BUY,
        quantity=Decimal(5),
        price=Decimal("190.10"),
        commission=Decimal(1),
        filled_at=NOW,
        created_at=NOW,
    )


def test_migrations_round_trip_without_drift(any_db_url: str) -> None:
    migrate.upgrade(any_db_url)
    migrate.check(any_db_url)
    migrate.downgrade(any_db_url, "base")
    engine = make_engine(any_db_url)
    try:
        left = set(inspect(engine).get_table_names()) - {"alembic_version"}
        assert left == set()
    finally:
        engine.dispose()
    migrate.upgrade(any_db_url)
    migrate.check(any_db_url)


def test_upgrade_creates_every_table_and_an_installation_id(db: Engine) -> None:
    tables = set(inspect(db).get_table_names())
    expected = {t for t in Base.metadata.tables if not t.startswith("paper_")}
    assert expected <= tables
    with Session(db) as session:
        installation = session.scalars(select(Installation)).one()
    assert len(installation.installation_id) == 8
    int(installation.installation_id, 16)


def test_decimal_and_aware_datetime_round_trip_exactly(db: Engine) -> None:
    big = Decimal("12345678901.12345678")
    when = datetime(2026, 3, 8, 1, 59, 59, 123456, tzinfo=NEW_YORK_WINTER)
    with Session(db) as session:
        session.add(_order("ibf-x-1", quantity=big, limit_price=Decimal("0.00000001"), expires_at=when))
        session.commit()
    with Session(db) as session:
        row = session.scalars(select(Order)).one()
    assert row.quantity == big
    assert str(row.quantity) == "12345678901.12345678"
    assert row.limit_price == Decimal("0.00000001")
    assert row.expires_at == when
    assert row.expires_at is not None
    assert row.expires_at.tzinfo == UTC
    assert row.expires_at.utcoffset() == timedelta(0)


def test_more_than_eight_places_is_quantized_the_same_way(db: Engine) -> None:
    with Session(db) as session:
        session.add(_order("ibf-x-1", limit_price=Decimal("1.123456785")))  # half-even: ...78
        session.add(_order("ibf-x-2", limit_price=Decimal("1.123456775")))  # half-even: ...78
        session.add(_order("ibf-x-3", limit_price=Decimal("-2.000000009")))
        session.commit()
    with Session(db) as session:
        prices = {o.client_order_id: o.limit_price for o in session.scalars(select(Order))}
    assert prices == {
        "ibf-x-1": Decimal("1.12345678"),
        "ibf-x-2": Decimal("1.12345678"),
        "ibf-x-3": Decimal("-2.00000001"),
    }


def test_an_overflowing_value_raises(db: Engine) -> None:
    with Session(db) as session:
        session.add(_order("ibf-x-1", quantity=Decimal("12345678901234567.5")))
        with pytest.raises(StatementError, match="more than 16 digits"):
            session.commit()


def test_a_naive_datetime_is_refused(db: Engine) -> None:
    with Session(db) as session:
        session.add(_order("ibf-x-1", created_at=datetime(2026, 1, 1)))  # noqa: DTZ001
        with pytest.raises(StatementError, match="naive datetime"):
            session.commit()


def test_client_order_id_is_unique(db: Engine) -> None:
    with Session(db) as session:
        session.add(_order("ibf-x-1"))
        session.commit()
        session.add(_order("ibf-x-1"))
        with pytest.raises(IntegrityError):
            session.commit()


def test_fill_is_unique_per_account_and_broker_exec_id(db: Engine) -> None:
    with Session(db) as session:
        session.add_all([_fill("E1"), _fill("E1", account_id="DU999")])  # same id, other account: fine
        session.commit()
        session.add(_fill("E1"))
        with pytest.raises(IntegrityError):
            session.commit()


def test_scheduled_execution_is_unique_per_strategy_and_time(db: Engine) -> None:
    with Session(db) as session:
        strategy = _strategy(session)
        for _ in range(2):  # manual runs have no scheduled time and never collide
            session.add(
                StrategyExecution(
                    strategy_id=strategy.id,
                    trigger=ExecutionTrigger.MANUAL,
                    status=ExecutionStatus.QUEUED,
                    created_at=NOW,
                )
            )
        session.add(
            StrategyExecution(
                strategy_id=strategy.id,
                trigger=ExecutionTrigger.SCHEDULE,
                scheduled_for=NOW,
                status=ExecutionStatus.QUEUED,
                created_at=NOW,
            )
        )
        session.commit()
        session.add(
            StrategyExecution(
                strategy_id=strategy.id,
                trigger=ExecutionTrigger.SCHEDULE,
                scheduled_for=NOW,
                status=ExecutionStatus.QUEUED,
                created_at=NOW,
            )
        )
        with pytest.raises(IntegrityError):
            session.commit()


def test_lineage_is_unique_per_execution_and_step(db: Engine) -> None:
    with Session(db) as session:
        strategy = _strategy(session)
        execution = StrategyExecution(
            strategy_id=strategy.id,
            trigger=ExecutionTrigger.MANUAL,
            status=ExecutionStatus.RUNNING,
            created_at=NOW,
        )
        session.add(execution)
        session.flush()

        def step() -> WorkflowLineage:
            return WorkflowLineage(
                execution_id=execution.id,
                step_index=1,
                step_name="load_strategy",
                status=StepStatus.SUCCEEDED,
                started_at=NOW,
                duration_ms=3,
            )

        session.add(step())
        session.commit()
        session.add(step())
        with pytest.raises(IntegrityError):
            session.commit()
