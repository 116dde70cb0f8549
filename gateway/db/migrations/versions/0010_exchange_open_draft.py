"""At most one draft awaiting approval per report (a partial unique index)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30

Issue 17: a held report's observations were not marked used, so building the report again
(``reports correct``, a scheduler) made a second draft beside the first. The use case now keeps or
replaces the open draft (``gateway.reports.approval.hold``); this index makes the database refuse a
second one even when two builders race. Drafts the old code doubled are closed first: for each
report, every open draft but the newest (which was built from all the unsent observations, the
older drafts' included) is marked ``rejected`` by ``migration:0010`` with the reason, so the upgrade
never fails on existing data and nothing disappears.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

OPEN = "state = 'awaiting_approval'"
KEY = ["regime_code", "form_code", "period_key", "reporting_unit"]


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text(f"SELECT id, {', '.join(KEY)} FROM report_approvals WHERE {OPEN} ORDER BY id")).all()
    newest: dict[tuple[str, ...], int] = {}
    for row in rows:
        newest[tuple(row[1:])] = row[0]
    for row in rows:
        kept = newest[tuple(row[1:])]
        if row[0] != kept:
            conn.execute(
                sa.text(
                    "UPDATE report_approvals SET state = 'rejected', decided_by = 'migration:0010', "
                    "decided_at = CURRENT_TIMESTAMP, reason = :reason WHERE id = :id"
                ),
                {"id": row[0], "reason": f"a second draft of the same report (approval {kept}) replaced it"},
            )
    op.create_index(
        "uq_report_approvals_open",
        "report_approvals",
        KEY,
        unique=True,
        sqlite_where=sa.text(OPEN),
        postgresql_where=sa.text(OPEN),
    )


def downgrade() -> None:
    op.drop_index("uq_report_approvals_open", table_name="report_approvals")
