"""worker_heartbeats.running: the executions a worker has in flight, so one it dropped is interrupted

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 02:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("worker_heartbeats", schema=None) as batch_op:
        batch_op.add_column(sa.Column("running", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("worker_heartbeats", schema=None) as batch_op:
        batch_op.drop_column("running")
