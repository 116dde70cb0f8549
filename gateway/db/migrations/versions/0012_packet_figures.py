"""The figures of each report packet, stored beside it for reconciliation

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01

Issue 20: reconciling a period parsed every stored packet of it (0.7-0.8 s CPU at 2,000 packets on
a cold start). The outbox now writes each report packet's figures when it stores the packet
(``gateway.reconciliation.figures``). Packets stored before this revision get their row lazily, on
the first reconciliation of their period (parsing a packet needs the configured profile, which a
migration does not have, and a large outbox would make the upgrade long).
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'packet_figures',
        sa.Column('packet_id', sa.String(length=36), nullable=False),
        sa.Column(
            'figures',
            sa.Text(),
            nullable=False,
            comment='JSON [[indicator(/column), disaggregation key, value, unit], ...] in packet order',
        ),
        sa.ForeignKeyConstraint(
            ['packet_id'], ['packets.id'], name=op.f('fk_packet_figures_packet_id_packets')
        ),
        sa.PrimaryKeyConstraint('packet_id', name=op.f('pk_packet_figures')),
    )


def downgrade() -> None:
    op.drop_table('packet_figures')
