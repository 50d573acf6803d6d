"""positions.exit_requested: a flatten or close asked for and not done yet, which tracking carries on

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ibflow.db.types

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("positions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("exit_requested", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("exit_requested_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("positions", schema=None) as batch_op:
        batch_op.drop_column("exit_requested_at")
        batch_op.drop_column("exit_requested")
