"""The installation's identity, written once by the first migration."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ibflow.db.base import Base
from ibflow.db.types import UtcDateTime


class Installation(Base):
    """One row: the random id that makes our client order ids unique across installations."""

    __tablename__ = "installation"

    id: Mapped[int] = mapped_column(primary_key=True)
    installation_id: Mapped[str] = mapped_column(
        String(16),
        unique=True,
        doc="random hex id made at the first migration; the `<install>` part of client order ids",
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
