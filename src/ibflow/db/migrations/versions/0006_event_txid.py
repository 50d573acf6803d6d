"""events.txid: the id of the transaction that wrote each event, for a reader that never skips one

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 20:00:00

On PostgreSQL event ids are handed out at insert, not at commit, so a reader resuming after the last id it saw
can pass over an event whose transaction commits later. Events written before this revision get 0.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("txid", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.create_index(batch_op.f("ix_events_txid"), ["txid"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_txid"))
        batch_op.drop_column("txid")
