"""The ``notify`` periodic job: new events into delivery rows, then the due deliveries sent.

It runs apart from the trading jobs (its own thread under ``ibflow serve``, the maintenance queue under
Celery) and every send has a timeout, so a slow or failing target delays only other notifications.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from ibflow.core.clock import Clock
from ibflow.db.engine import SessionFactory
from ibflow.db.locks import LockTimeout, NamedLocks
from ibflow.notify.outbox import DeliveryQueue
from ibflow.notify.sender import RetryPolicy, Sender, SendReport
from ibflow.notify.transport import Transport

log = logging.getLogger(__name__)
LOCK = "notify"


@dataclass(frozen=True)
class NotifyReport:
    """What one run of the job did."""

    queued: int
    sent: SendReport


class Notifier:
    """One run: enqueue new events, then send what is due within the run's time budget."""

    def __init__(
        self,
        sessions: SessionFactory,
        transport: Transport,
        *,
        clock: Clock,
        policy: RetryPolicy,
        budget: timedelta = timedelta(seconds=15),
        locks: NamedLocks | None = None,
    ) -> None:
        self.queue = DeliveryQueue(sessions, clock=clock)
        self.sender = Sender(sessions, transport, clock=clock, policy=policy)
        self._budget = budget
        self._locks = locks

    def run(self) -> NotifyReport:
        """Turn new events into deliveries, then send the due ones; nothing while another run is under way.

        With ``locks`` (bootstrap passes them) a second run at the same time, e.g. beat's next message on a
        second worker thread, returns at once instead of holding another thread.
        """
        if self._locks is None:
            return self._run()
        try:
            with self._locks.hold(LOCK, timeout_s=0.0):
                return self._run()
        except LockTimeout:
            return NotifyReport(0, SendReport())

    def _run(self) -> NotifyReport:
        queued = self.queue.enqueue()
        report = self.sender.send_due(budget=self._budget)
        if report.sent or report.failed:
            log.info(
                "notifications: %d queued, %d sent, %d retrying, %d given up",
                queued,
                len(report.sent),
                len(report.retrying),
                len(report.failed),
            )
        return NotifyReport(queued, report)
