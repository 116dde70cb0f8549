"""The value key joins the end of the report index; its own index goes

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01

Issue 19: ``ix_observations_value_key`` indexed a SHA-256 digest, so every stored value went to a
random page of it; at a national load a commit of 10,000 values wrote some 10,000 index pages
(1.9 s of a 4.7 s file once the table held a million rows, 0.2 s on an empty table). The value key
is only looked up within a report (it digests the report's columns), so it now follows them in the
report index: a batch of one report's values lands in one part of one index, and one b-tree fewer
is kept up to date per value.

The ingest run and the indicator end the index: the scheduler's "which reports wait" (run visibility
per value) and a period's KPI values (indicator per value) read a table row per observation of the
period without them (1.7 s and 1.0 s for a national month on SQLite; 0.4 s and 0.2 s with them).

``observation_links`` loses its two foreign keys: PostgreSQL checks each by a trigger per inserted
row, 10 of the 16 s it took to link the 996,300 observations of a national month (``COPY`` of the
same rows: 14.3 s with them, 1.8 s without). ``gateway.db.models.ObservationLink`` says what keeps
both ends valid instead.

On a database already holding values the upgrade builds the new report index (5 s for a million
observations on SQLite, measured on a copy of the national month) and, on SQLite, copies
``observation_links`` into a table without the keys; writers wait meanwhile.
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

REPORT = ["period_key", "regime_code", "form_code", "reporting_unit"]


def upgrade() -> None:
    op.drop_index("ix_observations_value_key", table_name="observations")
    op.drop_index("ix_observations_report", table_name="observations")
    op.create_index("ix_observations_report", "observations", [*REPORT, "value_key", "ingest_run_id", "indicator_code"])
    with op.batch_alter_table("observation_links") as batch:
        batch.drop_constraint("fk_observation_links_observation_id_observations", type_="foreignkey")
        batch.drop_constraint("fk_observation_links_packet_id_packets", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("observation_links") as batch:
        batch.create_foreign_key(
            "fk_observation_links_observation_id_observations", "observations", ["observation_id"], ["id"]
        )
        batch.create_foreign_key("fk_observation_links_packet_id_packets", "packets", ["packet_id"], ["id"])
    op.drop_index("ix_observations_report", table_name="observations")
    op.create_index("ix_observations_report", "observations", REPORT)
    op.create_index("ix_observations_value_key", "observations", ["value_key", "id"])
