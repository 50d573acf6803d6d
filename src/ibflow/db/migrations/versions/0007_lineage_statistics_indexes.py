"""Indexes for step statistics: (step, status, duration) and (step, started_at) on workflow_lineage

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 20:40:00

Step statistics aggregate in SQL; these let each step's counts, duration order and recent rows come from an
index instead of a scan of every lineage row. The single-column step_name index is covered by both.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("workflow_lineage", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflow_lineage_step_name"))
        batch_op.create_index(
            "ix_workflow_lineage_step_stats", ["step_name", "status", "duration_ms"], unique=False
        )
        batch_op.create_index("ix_workflow_lineage_step_started", ["step_name", "started_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("workflow_lineage", schema=None) as batch_op:
        batch_op.drop_index("ix_workflow_lineage_step_started")
        batch_op.drop_index("ix_workflow_lineage_step_stats")
        batch_op.create_index(batch_op.f("ix_workflow_lineage_step_name"), ["step_name"], unique=False)
