"""Security: receiver clients bound to a unit, flagged deliveries, server-side session revocation (issue 18)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30

- ``api_clients.unit_code``: the unit a receiver client speaks for (its status packets must come from it);
- ``deliveries.attention``: why a delivery needs an operator although its state is settled (a late
  ``TU_CHOI`` after acknowledgement);
- ``api_users.tokens_not_before`` / ``api_clients.tokens_not_before``: tokens issued earlier are refused
  (password change, disable, role change);
- ``revoked_tokens``: one row per token ended by logout, kept until the token would have expired.
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_clients', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('unit_code', sa.String(length=100), nullable=True, comment='receivers: the unit (MaDinhDanh) it speaks for')
        )
        batch_op.add_column(sa.Column('tokens_not_before', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('api_users', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'tokens_not_before',
                sa.DateTime(timezone=True),
                nullable=True,
                comment='tokens issued earlier are refused (password, role or status changed)',
            )
        )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('attention', sa.Text(), nullable=True, comment='why an operator must look although the state is settled')
        )
    op.create_table(
        'revoked_tokens',
        sa.Column('jti', sa.String(length=64), nullable=False),
        sa.Column('subject', sa.String(length=200), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('jti', name=op.f('pk_revoked_tokens')),
    )


def downgrade() -> None:
    op.drop_table('revoked_tokens')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('attention')
    with op.batch_alter_table('api_users', schema=None) as batch_op:
        batch_op.drop_column('tokens_not_before')
    with op.batch_alter_table('api_clients', schema=None) as batch_op:
        batch_op.drop_column('tokens_not_before')
        batch_op.drop_column('unit_code')
