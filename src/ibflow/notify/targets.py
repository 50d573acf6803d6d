"""Notification targets: add, list, enable, disable, remove; every change audited, no URL ever shown.

A target is global (``user_id`` null: what an admin or the machine's owner sets up) or a user's own. Callers
pass who acts (``Owner``): an admin or the CLI may touch every target; any other user only their own. The
audit rows name the target by id, label and masked URL, never the URL itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ibflow.core.clock import Clock
from ibflow.core.errors import Forbidden, NotFound, ValidationError
from ibflow.db.models.notify import DeliveryStatus, NotificationDelivery, NotificationTarget
from ibflow.db.models.system import AuditLog
from ibflow.db.models.users import User
from ibflow.notify.kinds import parse_names
from ibflow.notify.transport import check_url, mask_url

MAX_LABEL_LENGTH = 64


@dataclass(frozen=True)
class Actor:
    """Who changes targets: a name for the audit log, their user id (none for the CLI), and whether admin."""

    name: str
    user_id: int | None
    admin: bool


@dataclass(frozen=True)
class TargetView:
    """A target as it may be shown: the URL masked."""

    id: int
    owner: str
    url: str
    label: str
    notifications: list[str]
    enabled: bool
    created_by: str
    created_at: str

    def as_dict(self) -> dict[str, Any]:
        """The target as JSON-ready values."""
        return dict(self.__dict__)


def add_target(
    session: Session,
    *,
    url: str,
    actor: Actor,
    clock: Clock,
    owner: str | None = None,
    label: str = "",
    notifications: Iterable[str] | None = None,
) -> NotificationTarget:
    """Add a target (``owner``: a user name, else global); the URL must be one apprise can use."""
    user_id = _owner_id(session, owner, actor)
    clean_label = label.strip()
    if len(clean_label) > MAX_LABEL_LENGTH:
        problem = f"use at most {MAX_LABEL_LENGTH} characters"
        raise ValidationError(f"label: {problem}", {"label": problem})
    target = NotificationTarget(
        user_id=user_id,
        url=check_url(url),
        label=clean_label,
        notifications=parse_names(notifications),
        enabled=True,
        created_by=actor.name,
        created_at=clock.now(),
    )
    session.add(target)
    session.flush()
    _audit(session, actor, clock, "notify.target_added", target, before={}, after=_facts(target))
    return target


def list_targets(session: Session, *, actor: Actor) -> list[NotificationTarget]:
    """Every target an admin (or the CLI) may see; a user's own otherwise."""
    query = select(NotificationTarget).order_by(NotificationTarget.id)
    if not actor.admin:
        query = query.where(NotificationTarget.user_id == actor.user_id)
    return list(session.scalars(query))


def get_target(session: Session, target_id: int, *, actor: Actor) -> NotificationTarget:
    """One target the actor may touch; another user's is ``NotFound`` (it is not theirs to know of)."""
    target = session.get(NotificationTarget, target_id)
    if target is None or not (actor.admin or target.user_id == actor.user_id):
        raise NotFound(f"no notification target {target_id}")
    return target


def set_enabled(
    session: Session, target_id: int, *, enabled: bool, actor: Actor, clock: Clock
) -> NotificationTarget:
    """Turn a target on or off (off: no new deliveries; pending ones are not sent while it is off)."""
    target = get_target(session, target_id, actor=actor)
    before = _facts(target)
    target.enabled = enabled
    action = "notify.target_enabled" if enabled else "notify.target_disabled"
    _audit(session, actor, clock, action, target, before=before, after=_facts(target))
    return target


def change_target(
    session: Session,
    target_id: int,
    *,
    actor: Actor,
    clock: Clock,
    label: str | None = None,
    notifications: Iterable[str] | None = None,
    enabled: bool | None = None,
) -> NotificationTarget:
    """Change a target's label, notifications or enabled flag (the URL stays: remove and add to change it)."""
    target = get_target(session, target_id, actor=actor)
    before = _facts(target)
    if label is not None:
        if len(label.strip()) > MAX_LABEL_LENGTH:
            problem = f"use at most {MAX_LABEL_LENGTH} characters"
            raise ValidationError(f"label: {problem}", {"label": problem})
        target.label = label.strip()
    if notifications is not None:
        target.notifications = parse_names(notifications)
    if enabled is not None:
        target.enabled = enabled
    _audit(session, actor, clock, "notify.target_changed", target, before=before, after=_facts(target))
    return target


def remove_target(session: Session, target_id: int, *, actor: Actor, clock: Clock) -> None:
    """Delete a target and its delivery rows."""
    target = get_target(session, target_id, actor=actor)
    _audit(session, actor, clock, "notify.target_removed", target, before=_facts(target), after={})
    session.delete(target)


def view(session: Session, target: NotificationTarget) -> TargetView:
    """The target as it may be shown (the owner by name, the URL masked)."""
    owner = "global"
    if target.user_id is not None:
        owner = session.scalar(select(User.username).where(User.id == target.user_id)) or str(target.user_id)
    return TargetView(
        id=target.id,
        owner=owner,
        url=mask_url(target.url),
        label=target.label,
        notifications=list(target.notifications),
        enabled=target.enabled,
        created_by=target.created_by,
        created_at=target.created_at.isoformat(),
    )


def _owner_id(session: Session, owner: str | None, actor: Actor) -> int | None:
    if owner is None:
        if actor.admin:
            return None
        return actor.user_id  # a user's target is their own unless an admin says otherwise
    user = session.scalars(select(User).where(User.username == owner.strip().lower())).one_or_none()
    if user is None:
        problem = f"no user named {owner.strip().lower()!r}"
        raise ValidationError(f"user: {problem}", {"user": problem})
    if not actor.admin and user.id != actor.user_id:
        raise Forbidden("only an admin may add a target for another user")
    return user.id


def _facts(target: NotificationTarget) -> dict[str, Any]:
    return {
        "owner_user_id": target.user_id,
        "url": mask_url(target.url),
        "label": target.label,
        "notifications": list(target.notifications),
        "enabled": target.enabled,
    }


def _audit(
    session: Session,
    actor: Actor,
    clock: Clock,
    action: str,
    target: NotificationTarget,
    *,
    before: dict[str, Any],
    after: dict[str, Any],
) -> None:
    session.add(
        AuditLog(
            at=clock.now(),
            actor=actor.name,
            action=action,
            target_type="notification_target",
            target_id=str(target.id),
            before=before,
            after=after,
            detail=target.label,
        )
    )


def delivery_counts(session: Session, target_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Each target's deliveries by status (``pending``, ``sent``, ``failed``)."""
    ids = list(target_ids)
    counts: dict[int, dict[str, int]] = {i: {s.value: 0 for s in DeliveryStatus} for i in ids}
    if not ids:
        return counts
    rows = session.execute(
        select(NotificationDelivery.target_id, NotificationDelivery.status, func.count())
        .where(NotificationDelivery.target_id.in_(ids))
        .group_by(NotificationDelivery.target_id, NotificationDelivery.status)
    )
    for target_id, status, count in rows:
        counts[target_id][DeliveryStatus(status).value] = int(count)
    return counts
