"""Reserved: inbound packets, regime inbox and approval (issue 17)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

Reserved so that work on several issues can add migrations without racing for the next number.
It changes nothing until that work fills it in (rename the file when it does).
"""


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
