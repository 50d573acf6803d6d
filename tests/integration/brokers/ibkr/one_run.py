"""One execution of a strategy in a process of its own, as ``ibflow run NAME`` does.

``python -m tests.integration.brokers.ibkr.one_run NAME [MARKER]``, with the tests' scripted buying analyst
registered (the environment names the database, the gateway and the account); ``confirm:ORDER_ID`` instead
of a name confirms that waiting order, as ``ibflow order confirm`` does. With ``MARKER``, the process writes
that file when it is about to answer a broker question and then holds the question for 8 s (longer than the
other process needs to start and reach its send).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from sqlalchemy import select
from tests.workflow_support import MarketableBuy

from ibflow import bootstrap
from ibflow.core import faultpoints
from ibflow.core.ids import StrategyId
from ibflow.db.models import Strategy, StrategyExecution
from ibflow.workflow.actions import confirm_order


def main(name: str, marker: str | None = None) -> int:
    if marker is not None:

        def hold(point: str) -> None:
            if point == faultpoints.QUESTION_PENDING:
                Path(marker).write_text("asked")
                time.sleep(8)

        faultpoints.install_handler(hold)
    container = bootstrap.build()
    container.analysts["buy"] = MarketableBuy
    if name.startswith("confirm:"):
        done = confirm_order(container.deps, container.accounts(), order_id=int(name[8:]), actor="alice")
        print(f"{name}: {done.state}")
        return 0
    with container.read_sessions() as session:
        strategy_id = session.scalars(select(Strategy.id).where(Strategy.name == name)).one()
    executor = container.executor()
    execution_id = executor.create_manual(StrategyId(strategy_id))
    executor.run(execution_id)
    with container.read_sessions() as session:
        execution = session.get_one(StrategyExecution, execution_id)
        print(f"{name}: {execution.status.value} {execution.error or ''}")
        return 0 if execution.status.value == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
