"""SIGKILL of the serving process around an order's broker call: after a restart, exactly one broker order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.integration.workflow.serve_child import settings

from ibflow import bootstrap
from ibflow.core.faultpoints import AFTER_BROKER_CALL, AFTER_INTENT_COMMIT, ENV
from ibflow.db.models import Order, Strategy, StrategyExecution
from ibflow.db.models.paper import PaperOrder
from ibflow.db.states import ExecutionStatus, OrderRole, OrderState, StrategyState
from ibflow.workflow.strategies.demo import seed_demo

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def _serve(url: str, folder: Path, seconds: float, fault: str | None) -> subprocess.CompletedProcess[str]:
    # This tree's src first: in a git worktree the venv's editable install may point at another checkout.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    env.pop(ENV, None)
    if fault:
        env[ENV] = fault
    return subprocess.run(
        [sys.executable, "-m", "tests.integration.workflow.serve_child", url, str(folder), str(seconds)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("fault", [AFTER_INTENT_COMMIT, AFTER_BROKER_CALL])
def test_a_crash_around_the_broker_call_ends_with_exactly_one_broker_order(
    tmp_path: Path, fault: str, migrated_sqlite: Callable[[Path], str]
) -> None:
    url = migrated_sqlite(tmp_path / "ibflow.db")
    container = bootstrap.build(settings(url, tmp_path))
    seed_demo(container.sessions, contracts=container.contract_service(), clock=container.clock)
    with container.sessions() as session:  # one strategy, due now, that buys for sure
        strategies = session.scalars(select(Strategy).order_by(Strategy.id)).all()
        for strategy in strategies[1:]:
            strategy.state = StrategyState.PAUSED
        strategies[0].analyst = "marketable-buy"
        strategies[0].next_run_at = datetime.now(UTC) - timedelta(seconds=1)
        session.commit()

    crashed = _serve(url, tmp_path, 60, fault)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    with container.sessions() as session:
        entry = session.scalars(select(Order).where(Order.role == OrderRole.ENTRY)).one()
        assert entry.state is (OrderState.INTENT if fault == AFTER_INTENT_COMMIT else OrderState.SUBMITTING)
        strategies[0] = session.get_one(Strategy, strategies[0].id)
        # The restart must not run it again by itself; it stays active (a paused strategy's crash-left
        # bracket is rejected by the final re-check instead of sent).
        strategies[0].next_run_at = datetime.now(UTC) + timedelta(days=1)
        session.commit()

    restarted = _serve(url, tmp_path, 4, None)
    assert restarted.returncode == 0, restarted.stderr[-2000:]
    with container.sessions() as session:
        at_broker = session.scalars(
            select(PaperOrder).where(PaperOrder.client_order_id == entry.client_order_id)
        ).all()
        assert len(at_broker) == 1
        settled = session.get_one(Order, entry.id)
        assert settled.state in (OrderState.WORKING, OrderState.PARTIALLY_FILLED, OrderState.FILLED)
        assert settled.broker_order_id is not None
        statuses = session.scalars(select(StrategyExecution.status)).all()
        assert ExecutionStatus.RUNNING not in statuses
        assert ExecutionStatus.INTERRUPTED in statuses
