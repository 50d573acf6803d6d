"""LLM analysts: prompt roles, per-strategy model and analysis mode, richer llm_calls, the response cache

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 02:00:00

``prompt_templates.role`` allowed ``system`` and ``user``; it now names the part a template plays
(``system``, ``analysis``, ``weekly``, ``consolidation``): existing ``user`` templates become ``analysis``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ibflow.db.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES = "role IN ('system', 'analysis', 'weekly', 'consolidation')"


def upgrade() -> None:
    op.execute("UPDATE prompt_templates SET role = 'analysis' WHERE role = 'user'")
    with op.batch_alter_table("prompt_templates", schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f("uq_prompt_templates_name"), ["name"])
        batch_op.create_check_constraint(batch_op.f("ck_prompt_templates_role"), ROLES)
    with op.batch_alter_table("strategies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("llm_model", sa.String(length=100), nullable=True))
        batch_op.add_column(
            sa.Column("analysis_mode", sa.String(length=16), nullable=False, server_default="single")
        )
    with op.batch_alter_table("llm_calls", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("purpose", sa.String(length=16), nullable=False, server_default="single")
        )
        batch_op.add_column(sa.Column("messages", sa.JSON(none_as_null=True), nullable=True))
        batch_op.add_column(sa.Column("stop_reason", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("cached", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("cache_key", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_llm_calls_created_at"), ["created_at"], unique=False)
    with op.batch_alter_table("trading_signals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provider", sa.String(length=32), nullable=True))
    op.create_table(
        "llm_response_cache",
        sa.Column("cache_key", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("raw_response", sa.Text(), nullable=False),
        sa.Column("stop_reason", sa.String(length=32), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("created_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_hit_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("cache_key", name=op.f("pk_llm_response_cache")),
    )


def downgrade() -> None:
    op.drop_table("llm_response_cache")
    with op.batch_alter_table("trading_signals", schema=None) as batch_op:
        batch_op.drop_column("provider")
    with op.batch_alter_table("llm_calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_llm_calls_created_at"))
        batch_op.drop_column("cache_key")
        batch_op.drop_column("cached")
        batch_op.drop_column("stop_reason")
        batch_op.drop_column("messages")
        batch_op.drop_column("purpose")
    with op.batch_alter_table("strategies", schema=None) as batch_op:
        batch_op.drop_column("analysis_mode")
        batch_op.drop_column("llm_model")
    with op.batch_alter_table("prompt_templates", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_prompt_templates_role"), type_="check")
        batch_op.drop_constraint(batch_op.f("uq_prompt_templates_name"), type_="unique")
    op.execute("UPDATE prompt_templates SET role = 'user' WHERE role <> 'system'")
