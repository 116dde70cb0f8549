"""Exchange: per-destination payloads, inbound packets, poll cursors, regime proposals (issue 17)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

- ``deliveries.payload`` / ``content_type``: one canonical report is serialised and signed once per
  destination; a destination whose format or receiver differs keeps its own bytes on its delivery.
- ``inbound_packets``: packets sent to us, with their raw bytes and our answer (dedup on MaGoiTin).
- ``poll_cursors``: how far each destination's poll connector has read.
- ``regime_proposals``: inbound regimes, forms and outlines drafted as YAML, awaiting an admin.
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
    op.create_table(
        'inbound_packets',
        sa.Column('id', sa.String(length=36), nullable=False, comment='MaGoiTin'),
        sa.Column('packet_type', sa.String(length=40), nullable=False),
        sa.Column('sender_code', sa.String(length=100), nullable=True),
        sa.Column('channel', sa.String(length=200), nullable=False, comment='api:<client> or poll:<destination>'),
        sa.Column('content_type', sa.String(length=60), nullable=False),
        sa.Column('payload', sa.LargeBinary(), nullable=False),
        sa.Column('payload_hash', sa.String(length=64), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('signer', sa.String(length=500), nullable=True),
        sa.Column('answer', sa.LargeBinary(), nullable=False, comment='the TRANG_THAI_BAO_CAO we answered with'),
        sa.Column('routed_to', sa.JSON(), nullable=False),
        sa.CheckConstraint("state IN ('accepted', 'refused')", name=op.f('ck_inbound_packets_state')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_packets')),
    )
    op.create_index(op.f('ix_inbound_packets_received_at'), 'inbound_packets', ['received_at'], unique=False)
    op.create_table(
        'poll_cursors',
        sa.Column('destination', sa.String(length=100), nullable=False),
        sa.Column('cursor', sa.Text(), nullable=True),
        sa.Column('polled_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('received', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('destination', name=op.f('pk_poll_cursors')),
    )
    op.create_table(
        'regime_proposals',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('inbound_packet_id', sa.String(length=36), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('code', sa.String(length=100), nullable=False),
        sa.Column('target', sa.String(length=500), nullable=False, comment='the file it would create or replace'),
        sa.Column('draft', sa.Text(), nullable=False),
        sa.Column('diff', sa.Text(), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('due_on', sa.Date(), nullable=False, comment='set-up deadline: 3 working days after receipt'),
        sa.Column('decided_by', sa.String(length=200), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('regime', 'form', 'outline')", name=op.f('ck_regime_proposals_kind')),
        sa.CheckConstraint("state IN ('open', 'accepted', 'declined')", name=op.f('ck_regime_proposals_state')),
        sa.ForeignKeyConstraint(['inbound_packet_id'], ['inbound_packets.id'], name=op.f('fk_regime_proposals_inbound_packet_id_inbound_packets')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_regime_proposals')),
    )
    op.create_index(op.f('ix_regime_proposals_inbound_packet_id'), 'regime_proposals', ['inbound_packet_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_regime_proposals_inbound_packet_id'), table_name='regime_proposals')
    op.drop_table('regime_proposals')
    op.drop_table('poll_cursors')
    op.drop_index(op.f('ix_inbound_packets_received_at'), table_name='inbound_packets')
    op.drop_table('inbound_packets')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('content_type')
        batch_op.drop_column('payload')
