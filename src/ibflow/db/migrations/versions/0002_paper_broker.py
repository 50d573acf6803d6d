"""paper broker books: paper_accounts, paper_orders, paper_fills, paper_positions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 11:41:39.677004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ibflow.db.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "paper_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("starting_cash", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("cash", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("evaluated_until", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_accounts")),
        sa.UniqueConstraint("account_id", name=op.f("uq_paper_accounts_account_id")),
    )
    op.create_table(
        "paper_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("paper_account_id", sa.Integer(), nullable=False),
        sa.Column("client_order_id", sa.String(length=64), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column(
            "leg",
            sa.Enum("parent", "stop", "target", name="paperleg", native_enum=False, length=24),
            nullable=True,
        ),
        sa.Column("conid", sa.BigInteger(), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column(
            "side", sa.Enum("BUY", "SELL", name="orderside", native_enum=False, length=24), nullable=False
        ),
        sa.Column(
            "order_type",
            sa.Enum("MKT", "LMT", "STP", "STP_LMT", name="ordertype", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column(
            "tif", sa.Enum("DAY", "GTC", name="timeinforce", native_enum=False, length=24), nullable=False
        ),
        sa.Column("quantity", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("limit_price", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=True),
        sa.Column("stop_price", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "inactive",
                "working",
                "pending_cancel",
                "filled",
                "cancelled",
                "expired",
                name="paperorderstatus",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("filled_quantity", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("filled_value", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("commission", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("fill_count", sa.Integer(), nullable=False),
        sa.Column("active_from", ibflow.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("triggered_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_fill_minute", sa.BigInteger(), nullable=True),
        sa.Column("expires_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("cancel_requested_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_account_id"],
            ["paper_accounts.id"],
            name=op.f("fk_paper_orders_paper_account_id_paper_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["paper_orders.id"],
            name=op.f("fk_paper_orders_parent_id_paper_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_orders")),
        sa.UniqueConstraint(
            "paper_account_id",
            "client_order_id",
            name=op.f("uq_paper_orders_paper_account_id_client_order_id"),
        ),
    )
    with op.batch_alter_table("paper_orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_paper_orders_paper_account_id_status", ["paper_account_id", "status"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_paper_orders_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "paper_positions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("paper_account_id", sa.Integer(), nullable=False),
        sa.Column("conid", sa.BigInteger(), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("quantity", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("avg_cost", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("realized_pnl", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("updated_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_account_id"],
            ["paper_accounts.id"],
            name=op.f("fk_paper_positions_paper_account_id_paper_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_positions")),
        sa.UniqueConstraint(
            "paper_account_id", "conid", name=op.f("uq_paper_positions_paper_account_id_conid")
        ),
    )
    op.create_table(
        "paper_fills",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("paper_account_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("broker_exec_id", sa.String(length=64), nullable=False),
        sa.Column("conid", sa.BigInteger(), nullable=False),
        sa.Column(
            "side", sa.Enum("BUY", "SELL", name="orderside", native_enum=False, length=24), nullable=False
        ),
        sa.Column("quantity", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("price", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("commission", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("executed_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["paper_orders.id"],
            name=op.f("fk_paper_fills_order_id_paper_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["paper_account_id"],
            ["paper_accounts.id"],
            name=op.f("fk_paper_fills_paper_account_id_paper_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_fills")),
        sa.UniqueConstraint(
            "paper_account_id", "broker_exec_id", name=op.f("uq_paper_fills_paper_account_id_broker_exec_id")
        ),
    )
    with op.batch_alter_table("paper_fills", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_paper_fills_order_id"), ["order_id"], unique=False)
        batch_op.create_index(
            "ix_paper_fills_paper_account_id_executed_at", ["paper_account_id", "executed_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("paper_fills", schema=None) as batch_op:
        batch_op.drop_index("ix_paper_fills_paper_account_id_executed_at")
        batch_op.drop_index(batch_op.f("ix_paper_fills_order_id"))

    op.drop_table("paper_fills")
    op.drop_table("paper_positions")
    with op.batch_alter_table("paper_orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_paper_orders_parent_id"))
        batch_op.drop_index("ix_paper_orders_paper_account_id_status")

    op.drop_table("paper_orders")
    op.drop_table("paper_accounts")
