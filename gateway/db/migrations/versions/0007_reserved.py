"""Reserved: security: sessions, login throttling, audit checkpoints (issue 18)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30

Reserved so that work on several issues can add migrations without racing for the next number.
It changes nothing until that work fills it in (rename the file when it does).
"""


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
