"""named_indicator_configs: saved indicator configurations a strategy copies from

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ibflow.db.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "named_indicator_configs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("params", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_named_indicator_configs")),
        sa.UniqueConstraint("name", name=op.f("uq_named_indicator_configs_name")),
    )


def downgrade() -> None:
    op.drop_table("named_indicator_configs")
