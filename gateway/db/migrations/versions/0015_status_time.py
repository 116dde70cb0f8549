"""Status receipts keep the status packet's own time (ThoiGian)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02

Status packets were applied in the order they arrived: an older ``TRA_LAI`` that arrived after a newer
``DA_DUYET`` (a poll and a webhook crossing, a receiver's queue replayed) returned a report the
receiver had since approved. A delivery now keeps the latest status by the time the receiver gave
it; comparing needs that time on the receipt the delivery points to. Receipts from before the
upgrade have none, and a status with a time is applied over them as before (arrival order).
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("status_receipts") as batch:
        batch.add_column(
            sa.Column(
                "status_at",
                sa.DateTime(timezone=True),
                nullable=True,
                comment="ThoiGian: when the receiver gave the status (migration 0015)",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("status_receipts") as batch:
        batch.drop_column("status_at")
