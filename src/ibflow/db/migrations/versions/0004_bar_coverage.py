"""bar_coverage: the stretches of time whose every daily bar is cached, so holes are found and filled

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 02:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ibflow.db.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bar_coverage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conid", sa.BigInteger(), nullable=False),
        sa.Column("bar_size", sa.String(length=8), nullable=False),
        sa.Column("from_ts", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("to_ts", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bar_coverage")),
    )
    with op.batch_alter_table("bar_coverage", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bar_coverage_conid"), ["conid"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bar_coverage", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bar_coverage_conid"))
    op.drop_table("bar_coverage")
