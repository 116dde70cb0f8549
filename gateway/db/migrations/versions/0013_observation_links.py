"""Which packet carries an observation moves from observations.packet_id to observation_links

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01

Issue 19: linking the 996,300 observations of a national load to their 68 packets rewrote every
observation row (and on PostgreSQL, a non-HOT update, a new entry in each of its six indexes and a
dead row to vacuum): 26 s of the 57 s PostgreSQL build. Inserting a narrow row per observation sent
is an append (``COPY``-fast). Existing links are carried over.

The report index now leads with the period, and the period-only index of 0011 goes: every
observation stored paid for six b-trees; a period's reconciliation uses the leading column of the
report index, and a report (all four columns equal) uses it whatever their order.

The order matters on SQLite: dropping the column rebuilds ``observations`` (a new table, the rows
copied, the old one dropped), and dropping a table that another table's foreign key refers to fails
while foreign keys are enforced; so the links wait in a plain table until the rebuild is done.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

HOLD = "_observation_links_0013"


def _links_table() -> None:
    op.create_table(
        "observation_links",
        sa.Column("observation_id", sa.Integer(), nullable=False),
        sa.Column("packet_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["observation_id"], ["observations.id"], name=op.f("fk_observation_links_observation_id_observations")
        ),
        sa.ForeignKeyConstraint(["packet_id"], ["packets.id"], name=op.f("fk_observation_links_packet_id_packets")),
        sa.PrimaryKeyConstraint("observation_id", name=op.f("pk_observation_links")),
    )
    with op.batch_alter_table("observation_links") as batch:
        batch.create_index(batch.f("ix_observation_links_packet_id"), ["packet_id"], unique=False)


REPORT_BEFORE = ['regime_code', 'form_code', 'period_key', 'reporting_unit']
REPORT_NOW = ['period_key', 'regime_code', 'form_code', 'reporting_unit']


def upgrade() -> None:
    op.drop_index('ix_observations_period', table_name='observations')
    op.drop_index('ix_observations_report', table_name='observations')
    op.create_index('ix_observations_report', 'observations', REPORT_NOW)
    op.execute(
        f"CREATE TABLE {HOLD} AS SELECT id AS observation_id, packet_id FROM observations WHERE packet_id IS NOT NULL"
    )
    with op.batch_alter_table("observations") as batch:
        batch.drop_index("ix_observations_packet_id")
        batch.drop_constraint("fk_observations_packet_id_packets", type_="foreignkey")
        batch.drop_column("packet_id")
    _links_table()
    op.execute(
        f"INSERT INTO observation_links (observation_id, packet_id) SELECT observation_id, packet_id FROM {HOLD}"
    )
    op.drop_table(HOLD)


def downgrade() -> None:
    op.drop_index('ix_observations_report', table_name='observations')
    op.create_index('ix_observations_report', 'observations', REPORT_BEFORE)
    op.create_index('ix_observations_period', 'observations', ['period_key'])
    op.execute(f"CREATE TABLE {HOLD} AS SELECT observation_id, packet_id FROM observation_links")
    op.drop_table("observation_links")
    with op.batch_alter_table("observations") as batch:
        batch.add_column(sa.Column("packet_id", sa.String(length=36), nullable=True))
        batch.create_foreign_key("fk_observations_packet_id_packets", "packets", ["packet_id"], ["id"])
        batch.create_index("ix_observations_packet_id", ["packet_id"], unique=False)
    op.execute(
        f"UPDATE observations SET packet_id = "
        f"(SELECT h.packet_id FROM {HOLD} h WHERE h.observation_id = observations.id)"
    )
    op.drop_table(HOLD)
