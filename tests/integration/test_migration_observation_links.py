"""Migration 0013 on a database with sent and unsent observations: each observation's packet moves
from ``observations.packet_id`` to a row of ``observation_links`` (issue 19), the column and its
index are gone, the ORM reads the same packet for each observation, and the schema matches the
models; the downgrade puts every link back in the column. On SQLite (where dropping the column
rebuilds the table) and PostgreSQL. The old rows are written as raw SQL, as the old code stored them."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.orm import Session

from gateway.db.engine import alembic_config, upgrade
from gateway.db.models import Base, Observation

PACKETS = ("00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b")
OLD_ROWS = {1: PACKETS[0], 2: PACKETS[0], 3: PACKETS[1], 4: None}  # observation id -> its packet


def _old_database(url: str) -> None:
    engine = create_engine(url)
    upgrade(engine, "0012")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO ingest_runs (id, source, adapter, mapping_version, started_at, read, mapped, quarantined,"
                " blank, state, added, changed, unchanged, outside_regime) VALUES (1, 'bm.xlsx', 'xlsx', 'm/1',"
                " '2026-10-20 01:00:00+00:00', 4, 4, 0, 0, 'completed', 4, 0, 0, 0)"
            )
        )
        for n, packet in enumerate(PACKETS, start=1):
            conn.execute(
                text(
                    "INSERT INTO packets (id, packet_type, profile, regime_code, form_code, period_key,"
                    " reporting_unit, revision, content_type, payload, payload_hash, value_count, created_at)"
                    " VALUES (:id, 'SO_LIEU_BAO_CAO', 'p', 'KTXH-THANG', :form, '2026-THANG-10', 'H15', 1,"
                    " 'application/json', :payload, 'h', 2, '2026-10-21 01:00:00+00:00')"
                ),
                {"id": packet, "form": f"BM0{n}", "payload": b"{}"},
            )
        for id_, packet in OLD_ROWS.items():
            conn.execute(
                text(
                    "INSERT INTO observations (id, ingest_run_id, regime_code, form_code, indicator_code,"
                    " source_indicator_code, unit, period_key, reporting_unit, disaggregation, value, source_ref,"
                    " content_hash, mapping_version, packet_id, created_at) VALUES (:id, 1, 'KTXH-THANG', 'BM01',"
                    " '0101', 'T1', 'người', '2026-THANG-10', 'H15', '[]', :value, 'bm.xlsx, row 9', 'c', 'm/1',"
                    " :packet, '2026-10-20 01:00:00+00:00')"
                ),
                {"id": id_, "value": str(id_ * 10), "packet": packet},
            )
    engine.dispose()


def test_links_move_to_their_own_table_and_back(database_url: str) -> None:
    _old_database(database_url)
    engine = create_engine(database_url)
    upgrade(engine, "head")
    with engine.connect() as conn:
        links = dict(conn.execute(text("SELECT observation_id, packet_id FROM observation_links")).all())
        columns = {c["name"] for c in inspect(conn).get_columns("observations")}
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert links == {k: v for k, v in OLD_ROWS.items() if v is not None}
    assert "packet_id" not in columns
    assert [d for d in diffs if "observation" in repr(d)] == []  # the tables are as the models say
    with Session(engine) as s:
        assert {o.id: o.packet_id for o in s.scalars(select(Observation))} == OLD_ROWS
        assert s.scalars(select(Observation.id).where(Observation.packet_id.is_(None))).all() == [4]

    cfg = alembic_config(database_url)
    with engine.begin() as conn:  # on the test's engine, disposed below (as ``upgrade`` does it)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0012")
    with engine.connect() as conn:
        back = dict(conn.execute(text("SELECT id, packet_id FROM observations")).all())
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert back == OLD_ROWS
    assert "observation_links" not in tables
