"""event_cursors: how far each reader of the events outbox has read

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ibflow.db.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_cursors",
        sa.Column("consumer", sa.String(length=64), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", name=op.f("pk_event_cursors")),
    )


def downgrade() -> None:
    op.drop_table("event_cursors")
