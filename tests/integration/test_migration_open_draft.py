"""Migration 0010 on a database where the old code doubled a held report's draft: the upgrade closes
every open draft of a report but the newest (``rejected`` by ``migration:0010``, with the reason),
then the partial unique index refuses a second open draft even from a builder that skips the use
case. Decided drafts are not limited. On SQLite and PostgreSQL; the index matches the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from gateway.db.engine import upgrade
from gateway.db.models import Base

INSERT = text(
    "INSERT INTO report_approvals (id, packet_id, regime_code, form_code, period_key, reporting_unit, "
    "value_count, draft, observation_ids, state, prepared_by, prepared_at, deadline, warn_hours) VALUES "
    "(:id, :packet, 'KTXH-THANG', :form, '2026-THANG-10', 'H15', 1, '{}', '[]', :state, 'scheduler:lan', "
    "'2026-10-24 00:00:00+00:00', '2026-10-26 16:59:59+00:00', 24)"
)


def test_doubled_drafts_are_closed_and_a_second_open_draft_is_refused(database_url: str) -> None:
    engine = create_engine(database_url)
    upgrade(engine, "0009")
    with engine.begin() as conn:
        for id_, form, state in (
            (1, "BM01-KT", "awaiting_approval"),
            (2, "BM01-KT", "awaiting_approval"),  # the old code's second draft of the same report
            (3, "BM01-KT", "awaiting_approval"),  # and a third
            (4, "BM02-XH", "awaiting_approval"),
            (5, "BM02-XH", "approved"),
        ):
            conn.execute(
                INSERT, {"id": id_, "packet": f"00000000-0000-4000-8000-00000000000{id_}", "form": form, "state": state}
            )
    upgrade(engine, "head")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, state, decided_by, reason FROM report_approvals ORDER BY id")).all()
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [(r.id, r.state) for r in rows] == [
        (1, "rejected"),
        (2, "rejected"),
        (3, "awaiting_approval"),
        (4, "awaiting_approval"),
        (5, "approved"),
    ]
    assert rows[0].decided_by == "migration:0010" and "approval 3" in rows[0].reason
    assert [d for d in diffs if "uq_report_approvals_open" in repr(d)] == []  # the index is as the models say
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            INSERT,
            {
                "id": 6,
                "packet": "00000000-0000-4000-8000-000000000006",
                "form": "BM02-XH",
                "state": "awaiting_approval",
            },
        )
    with engine.begin() as conn:  # decided drafts of the same report are not limited
        conn.execute(
            INSERT, {"id": 7, "packet": "00000000-0000-4000-8000-000000000007", "form": "BM02-XH", "state": "rejected"}
        )
    engine.dispose()
