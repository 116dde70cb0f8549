"""Exchange: per-destination payloads (issue 17)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

One canonical report is serialised and signed once per destination: a destination whose format or
receiver differs from the first one keeps its own bytes on its delivery.
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payload', sa.LargeBinary(), nullable=True, comment="the bytes for this destination when they differ from the packet's (format, receiver)"))
        batch_op.add_column(sa.Column('content_type', sa.String(length=60), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('content_type')
        batch_op.drop_column('payload')
