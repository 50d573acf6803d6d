"""Request-scoped dependencies as ``Annotated`` aliases: the container and a database session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session

from ibflow import bootstrap
from ibflow.api.auth import container


def _session(request: Request) -> Iterator[Session]:
    with container(request).sessions() as session:
        yield session


def _read_session(request: Request) -> Iterator[Session]:
    with container(request).read_sessions() as session:
        yield session


ContainerDep = Annotated[bootstrap.Container, Depends(container)]
SessionDep = Annotated[Session, Depends(_session)]
"""A writing session: the handler commits once, after its service call."""
ReadSessionDep = Annotated[Session, Depends(_read_session)]
"""A reading session (never waits for a writer on SQLite)."""


MAX_ID = 2**63 - 1
"""Ids are 64-bit signed integers in both databases; a larger number names nothing and is refused (422)."""
RowId = Annotated[int, Path(ge=1, le=MAX_ID, description="an id (1 or more)")]
