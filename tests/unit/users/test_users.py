"""Users are created with argon2 hashes and authenticate only with the right password."""

from __future__ import annotations

import pytest

from ibflow.core.clock import ManualClock
from ibflow.core.errors import ValidationError
from ibflow.db.engine import SessionFactory
from ibflow.db.states import UserRole
from ibflow.users.service import authenticate, create_user, find_user, generate_password


def test_create_and_authenticate(sessions: SessionFactory, clock: ManualClock) -> None:
    password = generate_password()
    with sessions() as session:
        user = create_user(session, username="Admin", password=password, role=UserRole.ADMIN, clock=clock)
        session.commit()
        assert user.username == "admin"
        assert user.password_hash.startswith("$argon2id$")
        assert password not in user.password_hash
    with sessions() as session:
        assert authenticate(session, username="ADMIN", password=password, clock=clock) is not None
        assert authenticate(session, username="admin", password=password + "x", clock=clock) is None
        assert authenticate(session, username="nobody", password=password, clock=clock) is None
        found = find_user(session, "admin")
        assert found is not None
        assert found.last_login_at == clock.now()


def test_bad_input_is_refused_with_every_problem(sessions: SessionFactory, clock: ManualClock) -> None:
    with sessions() as session:
        create_user(
            session, username="alice", password="correct horse battery", role=UserRole.TRADER, clock=clock
        )
        with pytest.raises(ValidationError) as caught:
            create_user(session, username="alice", password="short", role=UserRole.VIEWER, clock=clock)
    assert set(caught.value.problems) == {"username", "password"}


def test_generated_passwords_are_long_and_distinct() -> None:
    first, second = generate_password(), generate_password()
    assert first != second
    assert len(first) >= 20
