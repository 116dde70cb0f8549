"""Observations carry the form column they are a value of (MaCot: TH, LK, KH, CK ...)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30

Issue 16 item 1: a template's value columns (the month, the cumulative figure, the plan, the % of
the same period last year) are different values of the same indicator; the column code travels
from the template to ``SoLieu.MaCot``. Existing observations have no column (NULL).
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('observations') as batch:
        batch.add_column(sa.Column(
            'column_code', sa.String(length=40), nullable=True,
            comment="MaCot: the form's column (TH month, LK cumulative, KH plan ...), when the source has one",
        ))


def downgrade() -> None:
    with op.batch_alter_table('observations') as batch:
        batch.drop_column('column_code')
