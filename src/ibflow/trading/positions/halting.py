"""What a halt does after the kill switch is HALTED: wait out sends under way, cancel unfilled entries.

``trading halt`` commits HALTED first (``kill_switch.set_state``), then, per account, ``settle_halt``
takes the account lock. A sender holds that lock from its final re-check to the outcome commit and looks
at the kill switch once more right before the broker call, so taking the lock waits for any send already
past that look; once ``settle_halt`` has held the lock of every account, no entry can reach a broker until
trading resumes. Then, unless the run-time setting ``halt_cancels_entries`` is off, every unfilled entry
of ibflow is cancelled (confirmed); a partly filled one keeps its fill, and its stop and target shrink to
what is held (``protection.align_protection``). Protection of open positions is never touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ibflow.brokers.base import Broker
from ibflow.core.clock import Clock
from ibflow.core.settings import BrokerSettings, RiskSettings
from ibflow.db.engine import SessionFactory
from ibflow.db.locks import NamedLocks
from ibflow.db.states import OrderOrigin, OrderRole, OrderState
from ibflow.trading.lifecycle.cancels import Services, Waiting, cancel_and_confirm
from ibflow.trading.lifecycle.orders import hold_account, live_orders_of, settling
from ibflow.trading.lifecycle.tracking import envs
from ibflow.trading.positions.protection import align_protection
from ibflow.trading.risk.runtime_settings import get_runtime_settings


@dataclass
class HaltReport:
    """What settling a halt did in one account: entries cancelled, and those not confirmed yet."""

    cancelled: list[int] = field(default_factory=list)
    unconfirmed: list[int] = field(default_factory=list)
    kept: bool = False
    """True when the setting ``halt_cancels_entries`` is off and entries were left working."""

    def __str__(self) -> str:
        if self.kept:
            return "no send under way; unfilled entries kept (halt_cancels_entries is off)"
        count = len(self.cancelled)
        text = f"no send under way; {count} unfilled entr{'y' if count == 1 else 'ies'} cancelled"
        if self.unconfirmed:
            text += f"; {len(self.unconfirmed)} not confirmed cancelled (still working or of unknown outcome)"
        return text


def settle_halt(
    sessions: SessionFactory,
    *,
    broker: Broker,
    locks: NamedLocks,
    account_id: str,
    clock: Clock,
    risk_env: RiskSettings | None = None,
    broker_env: BrokerSettings | None = None,
    waiting: Waiting | None = None,
) -> HaltReport:
    """Wait for sends under way in the account (its lock), then cancel unfilled entries per the setting."""
    services = Services(sessions, broker, locks, clock, *envs(risk_env, broker_env), waiting)
    report = HaltReport()
    with hold_account(locks, account_id):
        services.sync(account_id)
        with sessions() as session:
            runtime = get_runtime_settings(session, services.risk_env, services.broker_env)
            live = live_orders_of(session, account_id, roles=[OrderRole.ENTRY])
            entries = [
                order.id
                for order in live
                if order.origin == OrderOrigin.IBFLOW
                and order.broker_order_id is not None
                and not settling(order)
            ]
            # An entry of unknown outcome cannot be cancelled by id yet: reported, for a trader to watch.
            unknown = [order.id for order in live if order.state is OrderState.SUBMIT_UNKNOWN]
        if not runtime.halt_cancels_entries:
            report.kept = bool(entries)
            return report
        if entries:
            report.unconfirmed = cancel_and_confirm(services, account_id, entries, why="trading halted")
            report.cancelled = [order_id for order_id in entries if order_id not in report.unconfirmed]
            align_protection(services, account_id)
        report.unconfirmed += unknown
    return report
