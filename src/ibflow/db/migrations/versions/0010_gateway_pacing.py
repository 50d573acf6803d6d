"""gateway_pacing: when the IBKR gateway may next be called, shared by every process of the installation

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ibflow.db.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gateway_pacing",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("next_free_at", sa.Double(), nullable=False),
        sa.Column("updated_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_gateway_pacing")),
    )


def downgrade() -> None:
    op.drop_table("gateway_pacing")
