"""Work to do once a session's transaction has committed, dropped when it rolls back.

Counting something when it is staged would count what a later rollback undoes; ``on_commit`` runs a
callback after the outermost transaction of the session commits, and forgets it when that transaction ends
any other way (a savepoint's release or rollback leaves them be). Callbacks must be cheap: a metric's
addition.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

log = logging.getLogger(__name__)

_KEY = "ibflow.after_commit"


def on_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` after ``session``'s current transaction commits (never if it rolls back)."""
    session.info.setdefault(_KEY, []).append(callback)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint released: the transaction may still roll back
        return
    for callback in session.info.pop(_KEY, ()):
        try:
            callback()
        except Exception:  # a metric must never break the caller's commit
            log.exception("an after-commit callback failed")


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_KEY, None)


@event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # ended without a commit (a commit ran them already)
        session.info.pop(_KEY, None)
