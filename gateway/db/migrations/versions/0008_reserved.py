"""Reserved: throughput indexes and batch tables (issue 19)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30

Reserved so that work on several issues can add migrations without racing for the next number.
It changes nothing until that work fills it in (rename the file when it does).
"""


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
