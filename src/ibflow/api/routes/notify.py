"""``/notify``: notification targets and a test message; URLs are secrets, so answers show them masked.

Any logged-in user (viewer and up) manages their own targets; an admin also sees and manages every target,
and only an admin adds a global one (``owner`` left out) or one for another user. Another user's target is
404 to a non-admin. Writes are audited (the URL masked).
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from ibflow.api.auth import Principal
from ibflow.api.deps import ContainerDep, ReadSessionDep, RowId, SessionDep
from ibflow.api.roles import Viewer
from ibflow.db.models.notify import NotificationTarget
from ibflow.db.states import UserRole
from ibflow.notify.kinds import DEFAULT_NAMES
from ibflow.notify.message import test_message
from ibflow.notify.targets import (
    Actor,
    add_target,
    change_target,
    delivery_counts,
    get_target,
    list_targets,
    remove_target,
    view,
)
from ibflow.notify.transport import MAX_URL_LENGTH, SendFailed, check_url, mask_url

router = APIRouter(prefix="/notify", tags=["notify"])


class TargetBody(BaseModel):
    """A new target: an apprise URL, who it is for, a label and the notifications it receives."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=MAX_URL_LENGTH, examples=["ntfy://ntfy.sh/my-topic"])
    owner: str | None = Field(
        default=None,
        max_length=64,
        description="a user name; left out: the caller's own target (an admin's: a global one)",
    )
    label: str = Field(default="", max_length=64)
    notifications: list[str] | None = Field(
        default=None, max_length=20, examples=[list(DEFAULT_NAMES)], description="default: all but risk_block"
    )


class TargetChange(BaseModel):
    """What may change on a target (the URL may not: remove the target and add a new one)."""

    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(default=None, max_length=64)
    notifications: list[str] | None = Field(default=None, max_length=20)
    enabled: bool | None = None


class TargetOut(BaseModel):
    """A target as shown: its URL masked (scheme and host only), with its deliveries by status."""

    id: int
    owner: str
    url: str
    label: str
    notifications: list[str]
    enabled: bool
    created_by: str
    created_at: str
    deliveries: dict[str, int]


class TestBody(BaseModel):
    """A URL to send a test message to (nothing is stored)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=MAX_URL_LENGTH)


class TestOut(BaseModel):
    """Whether the test message went, to which (masked) URL, and why not."""

    sent: bool
    url: str
    error: str | None


def _actor(caller: Principal) -> Actor:
    return Actor(name=caller.username, user_id=caller.user_id, admin=caller.role is UserRole.ADMIN)


def _out(db: Session, target: NotificationTarget) -> TargetOut:
    counts = delivery_counts(db, [target.id])[target.id]
    return TargetOut(**view(db, target).as_dict(), deliveries=counts)


@router.get("/targets", response_model=list[TargetOut])
def targets(caller: Viewer, db: ReadSessionDep) -> list[TargetOut]:
    """The caller's targets (an admin's: every target)."""
    return [_out(db, target) for target in list_targets(db, actor=_actor(caller))]


@router.post("/targets", status_code=201, response_model=TargetOut)
def add(caller: Viewer, db: SessionDep, app: ContainerDep, body: TargetBody) -> TargetOut:
    """Add a target; 422 for a URL apprise cannot use or an unknown notification, 403 for another's."""
    target = add_target(
        db,
        url=body.url,
        actor=_actor(caller),
        clock=app.clock,
        owner=body.owner,
        label=body.label,
        notifications=body.notifications,
    )
    db.commit()
    return _out(db, target)


@router.get("/targets/{target_id}", response_model=TargetOut)
def target(caller: Viewer, db: ReadSessionDep, target_id: RowId) -> TargetOut:
    """One target."""
    return _out(db, get_target(db, target_id, actor=_actor(caller)))


@router.patch("/targets/{target_id}", response_model=TargetOut)
def change(
    caller: Viewer, db: SessionDep, app: ContainerDep, target_id: RowId, body: TargetChange
) -> TargetOut:
    """Change a target's label, notifications or enabled flag (audited)."""
    changed = change_target(
        db,
        target_id,
        actor=_actor(caller),
        clock=app.clock,
        label=body.label,
        notifications=body.notifications,
        enabled=body.enabled,
    )
    db.commit()
    return _out(db, changed)


@router.delete("/targets/{target_id}", status_code=204, response_class=Response)
def remove(caller: Viewer, db: SessionDep, app: ContainerDep, target_id: RowId) -> Response:
    """Delete a target and its delivery records (audited)."""
    remove_target(db, target_id, actor=_actor(caller), clock=app.clock)
    db.commit()
    return Response(status_code=204)


@router.post("/test", response_model=TestOut)
def send_test(caller: Viewer, app: ContainerDep, body: TestBody) -> TestOut:
    """Send a test message now: 200 with ``sent`` (and why not); 422 for a URL apprise cannot use."""
    del caller
    url = check_url(body.url)
    title, text = test_message(app.clock.now())
    try:
        app.notify_transport().send(url, title=title, body=text)
    except SendFailed as exc:
        return TestOut(sent=False, url=mask_url(url), error=str(exc))
    return TestOut(sent=True, url=mask_url(url), error=None)
