"""Migration 0005 (ingest runs) on a database that already holds runs and observations: existing
runs become ``completed``, existing observations get the ``value_key`` re-ingest compares by (so the
first re-read after upgrading stores no duplicate), and the schema matches the models. Downgrade and
upgrade again work. On SQLite and PostgreSQL."""

from __future__ import annotations

import json

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, text

from gateway.db.engine import alembic_config, upgrade
from gateway.db.models import Base
from gateway.ingest import value_key


def test_upgrade_keeps_existing_runs_and_keys_existing_observations(database_url: str) -> None:
    engine = create_engine(database_url)
    upgrade(engine, "0004")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO ingest_runs (id, source, adapter, mapping_version, started_at, read, mapped, quarantined, "
                "blank) VALUES (1, 'old.xlsx', 'xlsx', 'm/1', '2026-10-01 00:00:00+00:00', 2, 2, 0, 0)"
            )
        )
        for i, (commune, value) in enumerate([("02647", "7105"), ("02674", "9499")], start=1):
            conn.execute(
                text(
                    "INSERT INTO observations (id, ingest_run_id, regime_code, form_code, indicator_code, "
                    "source_indicator_code, unit, period_key, reporting_unit, disaggregation, admin_code_list, "
                    "value, source_ref, content_hash, mapping_version, created_at) VALUES (:id, 1, 'KTXH-THANG', "
                    "'BM02-XH', '0201', 'T0201', 'người', '2026-THANG-10', 'H15', :dis, 'QD19-2025', :value, "
                    "'old.xlsx', 'x', 'm/1', '2026-10-01 00:00:00+00:00')"
                ),
                {"id": i, "dis": json.dumps([["DVHC", commune]]), "value": value},
            )
    upgrade(engine, "head")
    with engine.connect() as conn:
        run = conn.execute(text("SELECT state, added, changed, unchanged, outside_regime FROM ingest_runs")).one()
        keys = [k for (k,) in conn.execute(text("SELECT value_key FROM observations ORDER BY id"))]
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert tuple(run) == ("completed", 0, 0, 0, 0)
    assert keys == [
        value_key("KTXH-THANG", "BM02-XH", "0201", "2026-THANG-10", "H15", [["DVHC", c]]) for c in ("02647", "02674")
    ]
    touched = {"ingest_runs", "observations", "quarantine"}
    mine = [d for d in diffs if any(t in repr(d) for t in touched)]
    assert mine == [], mine
    upgrade_down(engine)
    upgrade(engine, "head")
    engine.dispose()


def upgrade_down(engine: Engine) -> None:
    """Downgrade to 0004 on the engine's own connection, as ``gateway.db.engine.upgrade`` upgrades."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
