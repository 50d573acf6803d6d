"""Send due deliveries through the transport with backoff: claim, send, record — at least once.

Each send is three steps, each committed: **claim** (a conditional update counts the attempt and pushes
``next_attempt_at`` one lease ahead, so a second sender running at the same time skips the row), **send**
(with the transport's timeout), **record** (``sent``, or the reason and the next attempt after a backoff
that doubles, or ``failed`` once the attempts are spent). A crash after the send and before the record
leaves the row claimed: when its lease ends it is sent again — one duplicate at most for that crash,
never a lost message. A crash before the send is one attempt spent, nothing sent.

A target that is disabled, or whose user is disabled, keeps its pending rows unsent until it is enabled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ibflow.core.clock import Clock
from ibflow.core.faultpoints import NOTIFY_AFTER_SEND, crash_point
from ibflow.db.engine import SessionFactory
from ibflow.db.events.reader import EventView
from ibflow.db.models.notify import DeliveryStatus, NotificationDelivery, NotificationTarget
from ibflow.db.models.system import Event
from ibflow.db.models.users import User
from ibflow.notify.message import compose
from ibflow.notify.transport import SendFailed, Transport, mask_url

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how soon a failed delivery is tried again, and how long a claim holds."""

    max_attempts: int = 5
    first_backoff: timedelta = timedelta(seconds=30)
    max_backoff: timedelta = timedelta(hours=1)
    lease: timedelta = timedelta(minutes=2)

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failed try: the first backoff, doubled each time, capped."""
        return min(self.first_backoff * (1 << min(max(attempts - 1, 0), 20)), self.max_backoff)


@dataclass
class SendReport:
    """What one pass did."""

    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Due:
    delivery_id: int
    attempts: int
    title: str
    body: str
    url: str
    target_id: int


class Sender:
    """Sends the due deliveries, oldest first, each recorded as it goes."""

    def __init__(
        self, sessions: SessionFactory, transport: Transport, *, clock: Clock, policy: RetryPolicy
    ) -> None:
        self._sessions = sessions
        self._transport = transport
        self._clock = clock
        self._policy = policy

    def send_due(self, *, limit: int = 50, budget: timedelta = timedelta(seconds=60)) -> SendReport:
        """Send up to ``limit`` due deliveries, claiming no new one after ``budget`` has passed."""
        report = SendReport()
        stop_at = self._clock.now() + budget
        for delivery_id in self._due_ids(limit):
            if self._clock.now() >= stop_at:
                break
            due = self._claim(delivery_id)
            if due is None:
                continue  # another sender took it, or it is no longer due
            try:
                self._transport.send(due.url, title=due.title, body=due.body)
            except SendFailed as exc:
                self._record_failure(due, str(exc), report)
                continue
            crash_point(NOTIFY_AFTER_SEND)  # IBFLOW_FAULTPOINT=notify.after_send
            self._record_sent(due, report)
        return report

    def _due_ids(self, limit: int) -> list[int]:
        now = self._clock.now()
        with self._sessions() as session:
            query = (
                select(NotificationDelivery.id)
                .join(NotificationTarget, NotificationTarget.id == NotificationDelivery.target_id)
                .outerjoin(User, User.id == NotificationTarget.user_id)
                .where(
                    NotificationDelivery.status == DeliveryStatus.PENDING,
                    NotificationDelivery.next_attempt_at <= now,
                    NotificationTarget.enabled.is_(True),
                    (NotificationTarget.user_id.is_(None)) | (User.is_active.is_(True)),
                )
                .order_by(NotificationDelivery.next_attempt_at, NotificationDelivery.id)
                .limit(limit)
            )
            return list(session.scalars(query))

    def _claim(self, delivery_id: int) -> _Due | None:
        now = self._clock.now()
        with self._sessions() as session:
            delivery = session.get(NotificationDelivery, delivery_id)
            if delivery is None or delivery.status is not DeliveryStatus.PENDING:
                return None
            if delivery.next_attempt_at > now:
                return None
            claimed = session.execute(
                update(NotificationDelivery)
                .where(
                    NotificationDelivery.id == delivery_id,
                    NotificationDelivery.status == DeliveryStatus.PENDING,
                    NotificationDelivery.attempts == delivery.attempts,
                )
                .values(attempts=delivery.attempts + 1, next_attempt_at=now + self._policy.lease)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                session.rollback()
                return None
            due = _compose(session, delivery, delivery.attempts + 1)
            session.commit()
        return due

    def _record_sent(self, due: _Due, report: SendReport) -> None:
        with self._sessions() as session:
            self._finish(session, due, status=DeliveryStatus.SENT, error="", sent_at=self._clock.now())
            session.commit()
        report.sent.append(due.delivery_id)

    def _record_failure(self, due: _Due, reason: str, report: SendReport) -> None:
        spent = due.attempts >= self._policy.max_attempts
        with self._sessions() as session:
            self._finish(
                session,
                due,
                status=DeliveryStatus.FAILED if spent else DeliveryStatus.PENDING,
                error=reason,
                next_attempt_at=self._clock.now() + self._policy.backoff(due.attempts),
            )
            session.commit()
        (report.failed if spent else report.retrying).append(due.delivery_id)
        log.warning(
            "notification %d to target %d (%s) failed, attempt %d of %d%s: %s",
            due.delivery_id,
            due.target_id,
            mask_url(due.url),
            due.attempts,
            self._policy.max_attempts,
            "; given up" if spent else "",
            reason,
        )

    @staticmethod
    def _finish(
        session: Session,
        due: _Due,
        *,
        status: DeliveryStatus,
        error: str,
        sent_at: datetime | None = None,
        next_attempt_at: datetime | None = None,
    ) -> None:
        delivery = session.get(NotificationDelivery, due.delivery_id)
        if delivery is None:  # its target was removed meanwhile
            return
        delivery.status = status
        delivery.last_error = error
        if sent_at is not None:
            delivery.sent_at = sent_at
        if next_attempt_at is not None:
            delivery.next_attempt_at = next_attempt_at


def _compose(session: Session, delivery: NotificationDelivery, attempts: int) -> _Due:
    event = session.get(Event, delivery.event_id)
    target = session.get(NotificationTarget, delivery.target_id)
    if event is None or target is None:  # cascades delete rows with them; a stale id meets neither
        raise RuntimeError(f"delivery {delivery.id} lost its event or target")
    title, body = compose(EventView.of(event), delivery.notification)
    return _Due(delivery.id, attempts, title, body, target.url, target.id)
