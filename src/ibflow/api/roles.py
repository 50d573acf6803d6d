"""Who may call a route: each route declares its minimum role once, where it is defined.

``allow(Role.TRADER)`` is a dependency that authenticates the caller (session cookie or bearer token),
checks CSRF on cookie writes, and refuses a lower role with 403. The authorization matrix test reads the
role back from the route's dependencies (``minimum_role``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from ibflow.api.auth import Principal, authenticate
from ibflow.core.errors import Forbidden
from ibflow.db.states import UserRole

RANK = {UserRole.VIEWER: 1, UserRole.TRADER: 2, UserRole.ADMIN: 3}


class Allow:
    """The dependency of one minimum role."""

    def __init__(self, role: UserRole) -> None:
        self.minimum_role = role

    def __call__(self, request: Request) -> Principal:
        principal = authenticate(request)
        if RANK[principal.role] < RANK[self.minimum_role]:
            raise Forbidden(f"{principal.role.value} may not do this; it needs {self.minimum_role.value}")
        return principal


def allow(role: UserRole) -> Callable[[Request], Principal]:
    """Return the dependency that lets ``role`` and above through."""
    return Allow(role)


Viewer = Annotated[Principal, Depends(allow(UserRole.VIEWER))]
Trader = Annotated[Principal, Depends(allow(UserRole.TRADER))]
Admin = Annotated[Principal, Depends(allow(UserRole.ADMIN))]
