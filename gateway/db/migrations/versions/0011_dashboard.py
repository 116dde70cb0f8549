"""Indexes for the reconciliation of one period (the dashboard's slowest page)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30

Issue 20 item 6: reconciliation reads a period's report packets and observations whatever the
regime; the existing indexes begin with the packet type and regime, or the regime, so a period
alone was a scan of every packet (100,000 in bench/dashboard_bench.py).
"""

from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_packets_period', 'packets', ['period_key', 'packet_type'])
    op.create_index('ix_observations_period', 'observations', ['period_key'])


def downgrade() -> None:
    op.drop_index('ix_observations_period', table_name='observations')
    op.drop_index('ix_packets_period', table_name='packets')
