"""backtests: each finished backtest's summary, equity curve and trades (its own run lives in its own file)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 06:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ibflow.db.types

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "backtests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("strategy_id", sa.Integer(), nullable=True),
        sa.Column("strategy_name", sa.String(length=200), nullable=False),
        sa.Column("conid", sa.BigInteger(), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("starting_cash", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("executions", sa.Integer(), nullable=False),
        sa.Column("data_source", sa.Text(), nullable=False),
        sa.Column("database_path", sa.Text(), nullable=False),
        sa.Column("started_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("summary", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("equity_curve", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("trades", sa.JSON(none_as_null=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["strategy_id"],
            ["strategies.id"],
            name=op.f("fk_backtests_strategy_id_strategies"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtests")),
        sa.UniqueConstraint("name", name=op.f("uq_backtests_name")),
    )


def downgrade() -> None:
    op.drop_table("backtests")
