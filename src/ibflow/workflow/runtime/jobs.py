"""The periodic jobs of ARCHITECTURE §5 and the start-up tasks, per broker account.

``watch_session`` records a lost or restored broker session, ``track_orders`` syncs orders and fills
and keeps protection sized to what is held, ``watch_protection``
checks every position still has live protection, ``expire_entries`` cancels unfilled entries at their
expiry, ``reconcile`` compares ibflow with the broker, ``snapshot_portfolio`` keeps the portfolio history,
``prune`` applies retention (never to what produced an order), and ``notify`` sends notifications (on its
own, so a slow target never delays the others). Their effects link back to the
execution that created the order through the order rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from ibflow.core.errors import IbflowError
from ibflow.db.states import TradingStateValue
from ibflow.trading.lifecycle.orders import hold_account
from ibflow.trading.lifecycle.tracking import recover_interrupted
from ibflow.trading.portfolio.valuation import take_snapshot
from ibflow.trading.positions.expiry import expire_entries
from ibflow.trading.positions.halting import settle_halt
from ibflow.trading.positions.protection import track_orders, watch_protection
from ibflow.trading.reconciliation.reconcile import reconcile
from ibflow.trading.reconciliation.session_watch import session_is_back, watch_session
from ibflow.trading.risk.kill_switch import check_daily_loss, set_state
from ibflow.trading.risk.runtime_settings import get_runtime_settings
from ibflow.workflow.deps import BrokerHandle, WorkflowDeps
from ibflow.workflow.runtime.daily_summary import write_daily_summary
from ibflow.workflow.runtime.prune import DEFAULT_CHART_KEEP, prune
from ibflow.workflow.runtime.service import PeriodicJob

log = logging.getLogger(__name__)

TRACK_EVERY_S = 10.0
"""The tracking job's default interval (``IBFLOW_TRACK_INTERVAL_SECONDS``)."""
WATCH_EVERY_S = 30.0
"""The protection watchdog's, entry expiry's and session watch's (``IBFLOW_WATCH_INTERVAL_SECONDS``)."""
RECONCILE_EVERY_S = 300.0
SNAPSHOT_EVERY_S = 300.0
PRUNE_EVERY_S = 3600.0
NOTIFY_EVERY_S = 10.0
SUMMARY_EVERY_S = 300.0

_TradingJob = Callable[..., Any]


def _per_account(deps: WorkflowDeps, handle: BrokerHandle, job: _TradingJob) -> Callable[[], object]:
    def run() -> object:
        return job(
            deps.sessions,
            broker=handle.broker,
            locks=deps.locks,
            account_id=handle.account_id,
            clock=deps.clock,
            risk_env=deps.risk_settings,
            broker_env=deps.broker_settings,
        )

    return run


def track_job_name(account_id: str) -> str:
    """The name of the tracking job of ``account_id`` (the Celery task of that name runs it)."""
    return f"track_orders[{account_id}]"


def tracking_job(deps: WorkflowDeps, handle: BrokerHandle) -> Callable[[], object]:
    """Sync orders and fills and keep protection sized, then halt on the daily loss limit if reached.

    A halt made here is settled as a trader's is: sends under way waited for, unfilled entries cancelled
    (per ``halt_cancels_entries``).
    """
    sync = _per_account(deps, handle, track_orders)
    settle = _per_account(deps, handle, settle_halt)

    def run() -> object:
        changed = sync()
        equity = handle.broker.account_summary(handle.account_id).net_liquidation
        with deps.sessions() as session:
            runtime = get_runtime_settings(session, deps.risk_settings, deps.broker_settings)
            halted = check_daily_loss(
                session,
                account_id=handle.account_id,
                equity=equity,
                clock=deps.clock,
                max_daily_loss_fraction=runtime.max_daily_loss_fraction,
            )
            session.commit()
        if halted:
            settle()
        return changed

    return run


def _watch(deps: WorkflowDeps, handle: BrokerHandle) -> Callable[[], object]:
    """Watch the session (for IBKR this tickles it, keeping it alive); reconcile when it comes back."""
    watch = _per_account(deps, handle, watch_session)
    settle = _per_account(deps, handle, reconcile)

    def run() -> object:
        changed = watch()
        if changed and session_is_back(deps.sessions, handle.account_id):
            settle()  # what happened while it was down: fills, cancels from outside, orders unknown
        return changed

    return run


def _snapshot(deps: WorkflowDeps, handle: BrokerHandle) -> Callable[[], object]:
    def run() -> object:
        with deps.sessions() as session:
            take_snapshot(session, broker=handle.broker, account_id=handle.account_id, clock=deps.clock)
            session.commit()
        return None

    return run


def _summary(deps: WorkflowDeps, handle: BrokerHandle, hour_utc: int) -> Callable[[], object]:
    def run() -> object:
        return write_daily_summary(
            deps.sessions, account_id=handle.account_id, clock=deps.clock, locks=deps.locks, hour_utc=hour_utc
        )

    return run


def _recover_orders(deps: WorkflowDeps, handle: BrokerHandle) -> Callable[[], object]:
    def run() -> object:
        with hold_account(deps.locks, handle.account_id), deps.sessions() as session:
            changed = recover_interrupted(session, account_id=handle.account_id, at=deps.clock.now())
            session.commit()
        if changed:
            log.warning("orders left mid-submit in %s: %s", handle.account_id, ", ".join(changed))
        return changed

    return run


def start_up_tasks(deps: WorkflowDeps, accounts: Sequence[BrokerHandle]) -> list[Callable[[], object]]:
    """Orders left mid-submit become ``submit_unknown``, then each account is reconciled."""
    tasks: list[Callable[[], object]] = []
    for handle in accounts:
        tasks.append(_recover_orders(deps, handle))
        tasks.append(_per_account(deps, handle, reconcile))
    return tasks


def periodic_jobs(
    deps: WorkflowDeps,
    accounts: Sequence[BrokerHandle],
    *,
    retention: timedelta = timedelta(days=30),
    chart_retention: timedelta = DEFAULT_CHART_KEEP,
    notify: Callable[[], object] | None = None,
    notify_every_s: float = NOTIFY_EVERY_S,
    summary_hour_utc: int = 21,
    track_every_s: float = TRACK_EVERY_S,
    watch_every_s: float = WATCH_EVERY_S,
) -> list[PeriodicJob]:
    """Return the periodic jobs for every account, retention pruning (charts of no-order runs first), and
    ``notify`` (the events outbox to the notification targets) apart from the rest.

    Every job runs once at start-up, then at its interval: ``track_every_s`` for the tracking job,
    ``watch_every_s`` for the protection watchdog, the entry expiry and the session watch (the first two
    sync orders too, so with both long nothing learns of a fill until a trader syncs, ``broker_sync``)."""
    jobs: list[PeriodicJob] = []
    for handle in accounts:
        suffix = f"[{handle.account_id}]"
        jobs += [
            PeriodicJob(track_job_name(handle.account_id), track_every_s, tracking_job(deps, handle)),
            PeriodicJob(
                f"watch_protection{suffix}", watch_every_s, _per_account(deps, handle, watch_protection)
            ),
            PeriodicJob(f"expire_entries{suffix}", watch_every_s, _per_account(deps, handle, expire_entries)),
            PeriodicJob(f"reconcile{suffix}", RECONCILE_EVERY_S, _per_account(deps, handle, reconcile)),
            PeriodicJob(f"watch_session{suffix}", watch_every_s, _watch(deps, handle)),
            PeriodicJob(f"snapshot_portfolio{suffix}", SNAPSHOT_EVERY_S, _snapshot(deps, handle)),
            PeriodicJob(f"summary{suffix}", SUMMARY_EVERY_S, _summary(deps, handle, summary_hour_utc)),
        ]
    jobs.append(
        PeriodicJob(
            "prune",
            PRUNE_EVERY_S,
            lambda: prune(
                deps.sessions,
                store=deps.chart_store,
                clock=deps.clock,
                keep=retention,
                chart_keep=chart_retention,
            ),
        )
    )
    if notify is not None:
        jobs.append(PeriodicJob("notify", notify_every_s, notify, apart=True))
    return jobs


def halt_accounts(
    deps: WorkflowDeps, accounts: Sequence[BrokerHandle], *, actor: str, reason: str
) -> list[str]:
    """Halt trading, then wait out sends under way and cancel unfilled entries in every account."""
    with deps.sessions() as session:
        set_state(
            session,
            value=TradingStateValue.HALTED,
            actor=actor,
            reason=reason,
            at=deps.clock.now(),
            actor_is_admin=False,
        )
        session.commit()
    lines = [f"trading is {TradingStateValue.HALTED.value} ({reason})"]
    for handle in accounts:
        try:
            result = _per_account(deps, handle, settle_halt)()
        except IbflowError as exc:  # trading is halted already; say what could not be settled, go on
            lines.append(f"{handle.account_id}: halted, but unfilled entries not settled: {exc}")
            continue
        lines.append(f"{handle.account_id}: {result}")
    return lines
