"""Index on charts.store_key: charts are stored by content, and pruning asks which keys rows still reference

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 06:20:00

Identical charts share one key (sha256 of the PNG). Before deleting a stored chart, pruning looks up whether
any remaining row references its key; this index answers that without a scan of every chart row.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("charts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_charts_store_key"), ["store_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("charts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_charts_store_key"))
