"""API accounts (clients and users) and the cancelled delivery state

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

STATES_BEFORE = "state IN ('pending', 'sending', 'delivered', 'acknowledged', 'returned', 'rejected', 'dead')"
STATES_AFTER = "state IN ('pending', 'sending', 'delivered', 'acknowledged', 'returned', 'rejected', 'dead', 'cancelled')"


def upgrade() -> None:
    op.create_table(
        'api_clients',
        sa.Column('client_id', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('role', sa.String(length=20), nullable=False),
        sa.Column('grants', sa.JSON(), nullable=False, comment='{regimes: [...], indicators: [...]}'),
        sa.Column('secret_hash', sa.String(length=200), nullable=False),
        sa.Column('previous_secret_hash', sa.String(length=200), nullable=True),
        sa.Column('previous_valid_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role IN ('admin', 'operator', 'auditor', 'ministry', 'receiver', 'metrics')",
            name=op.f('ck_api_clients_role'),
        ),
        sa.PrimaryKeyConstraint('client_id', name=op.f('pk_api_clients')),
    )
    op.create_table(
        'api_users',
        sa.Column('username', sa.String(length=100), nullable=False),
        sa.Column('full_name', sa.String(length=200), nullable=False),
        sa.Column('role', sa.String(length=20), nullable=False),
        sa.Column('password_hash', sa.String(length=200), nullable=False),
        sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('admin', 'operator', 'auditor')", name=op.f('ck_api_users_role')),
        sa.PrimaryKeyConstraint('username', name=op.f('pk_api_users')),
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_deliveries_state'), type_='check')
        batch_op.create_check_constraint(op.f('ck_deliveries_state'), sa.text(STATES_AFTER))


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_deliveries_state'), type_='check')
        batch_op.create_check_constraint(op.f('ck_deliveries_state'), sa.text(STATES_BEFORE))
    op.drop_table('api_users')
    op.drop_table('api_clients')
