"""initial schema: every table of ARCHITECTURE §4 but paper_*, and the installation id

Revision ID: 0001
Revises:
Create Date: 2026-11-25 11:22:57.426068
"""

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import ibflow.db.types

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "app_settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_app_settings")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=True),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("before", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("after", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)

    op.create_table(
        "bars",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conid", sa.BigInteger(), nullable=False),
        sa.Column("bar_size", sa.String(length=8), nullable=False),
        sa.Column("ts", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("open", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("high", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("low", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("close", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("volume", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("fetched_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bars")),
        sa.UniqueConstraint("conid", "bar_size", "ts", name=op.f("uq_bars_conid_bar_size_ts")),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=True),
        sa.Column("entity_id", sa.Integer(), nullable=True),
        sa.Column("execution_id", sa.Integer(), nullable=True),
        sa.Column("account_id", sa.String(length=32), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("created_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_execution_id"), ["execution_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_kind"), ["kind"], unique=False)

    op.create_table(
        "installation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("installation_id", sa.String(length=16), nullable=False),
        sa.Column("created_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_installation")),
        sa.UniqueConstraint("installation_id", name=op.f("uq_installation_installation_id")),
    )
    op.create_table(
        "portfolio_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("taken_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("cash", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("equity", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("positions_value", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("realized_pnl", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("unrealized_pnl", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("positions", sa.JSON(none_as_null=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_snapshots")),
    )
    with op.batch_alter_table("portfolio_snapshots", schema=None) as batch_op:
        batch_op.create_index(
            "ix_portfolio_snapshots_account_id_taken_at", ["account_id", "taken_at"], unique=False
        )

    op.create_table(
        "reconcile_mismatches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("conid", sa.BigInteger(), nullable=False),
        sa.Column("ibflow_quantity", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("broker_quantity", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("detected_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconcile_mismatches")),
    )
    with op.batch_alter_table("reconcile_mismatches", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reconcile_mismatches_account_id_conid", ["account_id", "conid"], unique=False
        )

    op.create_table(
        "symbols",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conid", sa.BigInteger(), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("sec_type", sa.String(length=16), nullable=False),
        sa.Column("exchange", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("min_tick", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("details", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("fetched_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_symbols")),
        sa.UniqueConstraint("conid", name=op.f("uq_symbols_conid")),
    )
    with op.batch_alter_table("symbols", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_symbols_symbol"), ["symbol"], unique=False)

    op.create_table(
        "trading_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column(
            "state",
            sa.Enum("ACTIVE", "REDUCING", "HALTED", name="tradingstatevalue", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("changed_by", sa.String(length=64), nullable=False),
        sa.Column("changed_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("broker_error_streak", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trading_state")),
        sa.UniqueConstraint("scope", name=op.f("uq_trading_state_scope")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column(
            "role",
            sa.Enum("admin", "trader", "viewer", name="userrole", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("created_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "indicators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("params", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("created_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_indicators_owner_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicators")),
    )
    op.create_table(
        "prompt_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("created_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_prompt_templates_owner_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompt_templates")),
    )
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("created_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("renewed_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_seen_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("user_agent", sa.String(length=255), nullable=True),
        sa.Column("ip_address", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_user_sessions_token_hash")),
    )
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_sessions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "prompt_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_prompt_versions_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["prompt_templates.id"],
            name=op.f("fk_prompt_versions_template_id_prompt_templates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompt_versions")),
        sa.UniqueConstraint("template_id", "version", name=op.f("uq_prompt_versions_template_id_version")),
    )
    op.create_table(
        "strategies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("conid", sa.BigInteger(), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("timeframes", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("analyst", sa.String(length=32), nullable=False),
        sa.Column("prompt_template_id", sa.Integer(), nullable=True),
        sa.Column("prompt_version_id", sa.Integer(), nullable=True),
        sa.Column("cron", sa.String(length=100), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("market_hours_only", sa.Boolean(), nullable=False),
        sa.Column(
            "mode",
            sa.Enum("paper", "live", name="strategymode", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column(
            "state",
            sa.Enum("active", "paused", "archived", name="strategystate", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("risk_per_trade", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("max_position_value", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("max_quantity", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("max_entries_per_day", sa.Integer(), nullable=False),
        sa.Column("min_reward_risk", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("min_confidence", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("max_entry_deviation", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("next_run_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_strategies_owner_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["prompt_template_id"],
            ["prompt_templates.id"],
            name=op.f("fk_strategies_prompt_template_id_prompt_templates"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["prompt_version_id"],
            ["prompt_versions.id"],
            name=op.f("fk_strategies_prompt_version_id_prompt_versions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strategies")),
        sa.UniqueConstraint("name", name=op.f("uq_strategies_name")),
    )
    with op.batch_alter_table("strategies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_strategies_next_run_at"), ["next_run_at"], unique=False)

    op.create_table(
        "strategy_executions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("strategy_id", sa.Integer(), nullable=False),
        sa.Column(
            "trigger",
            sa.Enum("schedule", "manual", name="executiontrigger", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("scheduled_for", ibflow.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "running",
                "succeeded",
                "failed",
                "skipped",
                "interrupted",
                name="executionstatus",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("created_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("started_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("owner", sa.String(length=128), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("summary", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("config_snapshot", sa.JSON(none_as_null=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["strategy_id"],
            ["strategies.id"],
            name=op.f("fk_strategy_executions_strategy_id_strategies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strategy_executions")),
        sa.UniqueConstraint(
            "strategy_id", "scheduled_for", name=op.f("uq_strategy_executions_strategy_id_scheduled_for")
        ),
    )
    with op.batch_alter_table("strategy_executions", schema=None) as batch_op:
        batch_op.create_index("ix_strategy_executions_status", ["status"], unique=False)

    op.create_table(
        "strategy_indicators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("strategy_id", sa.Integer(), nullable=False),
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["indicators.id"],
            name=op.f("fk_strategy_indicators_indicator_id_indicators"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["strategy_id"],
            ["strategies.id"],
            name=op.f("fk_strategy_indicators_strategy_id_strategies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strategy_indicators")),
        sa.UniqueConstraint(
            "strategy_id", "indicator_id", name=op.f("uq_strategy_indicators_strategy_id_indicator_id")
        ),
    )
    with op.batch_alter_table("strategy_indicators", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_strategy_indicators_strategy_id"), ["strategy_id"], unique=False)

    op.create_table(
        "charts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("execution_id", sa.Integer(), nullable=True),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("store_key", sa.String(length=255), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("bar_from", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("bar_to", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["strategy_executions.id"],
            name=op.f("fk_charts_execution_id_strategy_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charts")),
    )
    with op.batch_alter_table("charts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_charts_execution_id"), ["execution_id"], unique=False)

    op.create_table(
        "llm_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("execution_id", sa.Integer(), nullable=True),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("prompt_version_id", sa.Integer(), nullable=True),
        sa.Column("rendered_prompt", sa.Text(), nullable=False),
        sa.Column("image_refs", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("raw_response", sa.Text(), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cost", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["strategy_executions.id"],
            name=op.f("fk_llm_calls_execution_id_strategy_executions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["prompt_version_id"],
            ["prompt_versions.id"],
            name=op.f("fk_llm_calls_prompt_version_id_prompt_versions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_llm_calls")),
    )
    with op.batch_alter_table("llm_calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_llm_calls_execution_id"), ["execution_id"], unique=False)

    op.create_table(
        "trading_signals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("execution_id", sa.Integer(), nullable=True),
        sa.Column("strategy_id", sa.Integer(), nullable=False),
        sa.Column(
            "action",
            sa.Enum("BUY", "SELL", "HOLD", "NO_SIGNAL", name="signalaction", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("confidence", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=True),
        sa.Column("entry", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=True),
        sa.Column("stop_loss", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=True),
        sa.Column("take_profit", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=True),
        sa.Column("timeframe", sa.String(length=8), nullable=True),
        sa.Column("reasoning", sa.Text(), nullable=False),
        sa.Column("key_factors", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("expires_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("is_valid", sa.Boolean(), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("reason_detail", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("prompt_version_id", sa.Integer(), nullable=True),
        sa.Column("chart_ids", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("created_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["strategy_executions.id"],
            name=op.f("fk_trading_signals_execution_id_strategy_executions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["prompt_version_id"],
            ["prompt_versions.id"],
            name=op.f("fk_trading_signals_prompt_version_id_prompt_versions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["strategy_id"],
            ["strategies.id"],
            name=op.f("fk_trading_signals_strategy_id_strategies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trading_signals")),
    )
    with op.batch_alter_table("trading_signals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trading_signals_execution_id"), ["execution_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_trading_signals_strategy_id"), ["strategy_id"], unique=False)

    op.create_table(
        "workflow_lineage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("execution_id", sa.Integer(), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("step_name", sa.String(length=32), nullable=False),
        sa.Column(
            "status",
            sa.Enum("succeeded", "failed", "skipped", name="stepstatus", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("input", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("output", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("traceback", sa.Text(), nullable=True),
        sa.Column("started_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["strategy_executions.id"],
            name=op.f("fk_workflow_lineage_execution_id_strategy_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_lineage")),
        sa.UniqueConstraint(
            "execution_id", "step_index", name=op.f("uq_workflow_lineage_execution_id_step_index")
        ),
    )
    with op.batch_alter_table("workflow_lineage", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workflow_lineage_step_name"), ["step_name"], unique=False)

    op.create_table(
        "positions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("strategy_id", sa.Integer(), nullable=True),
        sa.Column("conid", sa.BigInteger(), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column(
            "status",
            sa.Enum("open", "closed", name="positionstatus", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("quantity", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("avg_cost", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("signal_id", sa.Integer(), nullable=True),
        sa.Column("initial_stop", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=True),
        sa.Column("stop_price", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=True),
        sa.Column("target_price", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=True),
        sa.Column("realized_pnl", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("opened_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["signal_id"],
            ["trading_signals.id"],
            name=op.f("fk_positions_signal_id_trading_signals"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["strategy_id"],
            ["strategies.id"],
            name=op.f("fk_positions_strategy_id_strategies"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_positions")),
        sa.UniqueConstraint(
            "account_id", "strategy_id", "conid", name=op.f("uq_positions_account_id_strategy_id_conid")
        ),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_order_id", sa.String(length=64), nullable=False),
        sa.Column("broker_order_id", sa.String(length=64), nullable=True),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("strategy_id", sa.Integer(), nullable=True),
        sa.Column("execution_id", sa.Integer(), nullable=True),
        sa.Column("signal_id", sa.Integer(), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column(
            "role",
            sa.Enum(
                "entry", "stop", "target", "exit", "manual", name="orderrole", native_enum=False, length=24
            ),
            nullable=False,
        ),
        sa.Column(
            "origin",
            sa.Enum("ibflow", "external", name="orderorigin", native_enum=False, length=24),
            nullable=False,
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
            "state",
            sa.Enum(
                "intent",
                "submitting",
                "inactive",
                "needs_confirmation",
                "submit_unknown",
                "working",
                "partially_filled",
                "cancel_pending",
                "filled",
                "cancelled",
                "expired",
                "rejected",
                name="orderstate",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("filled_quantity", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("avg_fill_price", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=True),
        sa.Column("position_id", sa.Integer(), nullable=True),
        sa.Column("send_attempts", sa.Integer(), nullable=False),
        sa.Column("reduce_only", sa.Boolean(), nullable=False),
        sa.Column("broker_status", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("expires_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("unknown_since", ibflow.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["strategy_executions.id"],
            name=op.f("fk_orders_execution_id_strategy_executions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["orders.id"], name=op.f("fk_orders_parent_id_orders"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["position_id"],
            ["positions.id"],
            name=op.f("fk_orders_position_id_positions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["signal_id"],
            ["trading_signals.id"],
            name=op.f("fk_orders_signal_id_trading_signals"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["strategy_id"],
            ["strategies.id"],
            name=op.f("fk_orders_strategy_id_strategies"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("client_order_id", name=op.f("uq_orders_client_order_id")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_orders_account_id_broker_order_id", ["account_id", "broker_order_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_orders_execution_id"), ["execution_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_position_id"), ["position_id"], unique=False)
        batch_op.create_index("ix_orders_state", ["state"], unique=False)

    op.create_table(
        "trades",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("strategy_id", sa.Integer(), nullable=True),
        sa.Column("position_id", sa.Integer(), nullable=True),
        sa.Column("signal_id", sa.Integer(), nullable=True),
        sa.Column("conid", sa.BigInteger(), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("quantity", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("entry_price", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("exit_price", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("gross_pnl", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("commissions", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("net_pnl", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("initial_risk", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=True),
        sa.Column("r_multiple", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=True),
        sa.Column("exit_reason", sa.String(length=32), nullable=True),
        sa.Column("opened_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["position_id"],
            ["positions.id"],
            name=op.f("fk_trades_position_id_positions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["signal_id"],
            ["trading_signals.id"],
            name=op.f("fk_trades_signal_id_trading_signals"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["strategy_id"],
            ["strategies.id"],
            name=op.f("fk_trades_strategy_id_strategies"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trades")),
    )
    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.create_index("ix_trades_account_id_closed_at", ["account_id", "closed_at"], unique=False)

    op.create_table(
        "fills",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("broker_exec_id", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("conid", sa.BigInteger(), nullable=False),
        sa.Column(
            "side", sa.Enum("BUY", "SELL", name="orderside", native_enum=False, length=24), nullable=False
        ),
        sa.Column("quantity", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("price", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("commission", ibflow.db.types.ExactDecimal(precision=24, scale=8), nullable=False),
        sa.Column("filled_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_fills_order_id_orders"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fills")),
        sa.UniqueConstraint("account_id", "broker_exec_id", name=op.f("uq_fills_account_id_broker_exec_id")),
    )
    with op.batch_alter_table("fills", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fills_order_id"), ["order_id"], unique=False)

    op.create_table(
        "order_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column(
            "from_state",
            sa.Enum(
                "intent",
                "submitting",
                "inactive",
                "needs_confirmation",
                "submit_unknown",
                "working",
                "partially_filled",
                "cancel_pending",
                "filled",
                "cancelled",
                "expired",
                "rejected",
                name="orderstate",
                native_enum=False,
                length=24,
            ),
            nullable=True,
        ),
        sa.Column(
            "to_state",
            sa.Enum(
                "intent",
                "submitting",
                "inactive",
                "needs_confirmation",
                "submit_unknown",
                "working",
                "partially_filled",
                "cancel_pending",
                "filled",
                "cancelled",
                "expired",
                "rejected",
                name="orderstate",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("broker_detail", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("created_at", ibflow.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_events_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_events")),
    )
    with op.batch_alter_table("order_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_events_order_id"), ["order_id"], unique=False)

    installation = sa.table(
        "installation",
        sa.column("id", sa.Integer()),
        sa.column("installation_id", sa.String()),
        sa.column("created_at", ibflow.db.types.UtcDateTime()),
    )
    # A random id per database: a reset or a test database never mistakes another installation's orders.
    op.bulk_insert(
        installation,
        [{"id": 1, "installation_id": secrets.token_hex(4), "created_at": datetime.now(UTC)}],
    )


def downgrade() -> None:
    with op.batch_alter_table("order_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_events_order_id"))

    op.drop_table("order_events")
    with op.batch_alter_table("fills", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fills_order_id"))

    op.drop_table("fills")
    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.drop_index("ix_trades_account_id_closed_at")

    op.drop_table("trades")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_state")
        batch_op.drop_index(batch_op.f("ix_orders_position_id"))
        batch_op.drop_index(batch_op.f("ix_orders_parent_id"))
        batch_op.drop_index(batch_op.f("ix_orders_execution_id"))
        batch_op.drop_index("ix_orders_account_id_broker_order_id")

    op.drop_table("orders")
    op.drop_table("positions")
    with op.batch_alter_table("workflow_lineage", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflow_lineage_step_name"))

    op.drop_table("workflow_lineage")
    with op.batch_alter_table("trading_signals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trading_signals_strategy_id"))
        batch_op.drop_index(batch_op.f("ix_trading_signals_execution_id"))

    op.drop_table("trading_signals")
    with op.batch_alter_table("llm_calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_llm_calls_execution_id"))

    op.drop_table("llm_calls")
    with op.batch_alter_table("charts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_charts_execution_id"))

    op.drop_table("charts")
    with op.batch_alter_table("strategy_indicators", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_strategy_indicators_strategy_id"))

    op.drop_table("strategy_indicators")
    with op.batch_alter_table("strategy_executions", schema=None) as batch_op:
        batch_op.drop_index("ix_strategy_executions_status")

    op.drop_table("strategy_executions")
    with op.batch_alter_table("strategies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_strategies_next_run_at"))

    op.drop_table("strategies")
    op.drop_table("prompt_versions")
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_sessions_user_id"))

    op.drop_table("user_sessions")
    op.drop_table("prompt_templates")
    op.drop_table("indicators")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
    op.drop_table("users")
    op.drop_table("trading_state")
    with op.batch_alter_table("symbols", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_symbols_symbol"))

    op.drop_table("symbols")
    with op.batch_alter_table("reconcile_mismatches", schema=None) as batch_op:
        batch_op.drop_index("ix_reconcile_mismatches_account_id_conid")

    op.drop_table("reconcile_mismatches")
    with op.batch_alter_table("portfolio_snapshots", schema=None) as batch_op:
        batch_op.drop_index("ix_portfolio_snapshots_account_id_taken_at")

    op.drop_table("portfolio_snapshots")
    op.drop_table("installation")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_kind"))
        batch_op.drop_index(batch_op.f("ix_events_execution_id"))

    op.drop_table("events")
    op.drop_table("bars")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))

    op.drop_table("audit_log")
    op.drop_table("app_settings")
