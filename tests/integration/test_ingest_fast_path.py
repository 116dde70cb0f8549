"""The batched ingest path of issue 19, on SQLite and PostgreSQL: rows written at the driver's speed
(``executemany`` of prepared tuples, ``COPY``) are the rows the mapping and the ORM define; a first
load of a report looks no stored value up (each batch used to query every key it held); a value
read twice in one run, in different batches, is still compared with the run's own earlier value."""

from __future__ import annotations

from datetime import UTC, date
from pathlib import Path
from typing import Any

from sqlalchemy import event, select

from adapters.base import PeriodRef, RawObservation, SourceRef
from adapters.csv_exports import CsvReader
from gateway.db.models import Observation
from gateway.ingest import ingest, value_key
from mappings.indicators import MAPPINGS_DIR, load_mapping
from tests.conftest import GatewayFactory

MAPPING = load_mapping(MAPPINGS_DIR / "indicators" / "lao-cai-ktxh.yaml")
HEADER = "ma_chi_tieu,ten_chi_tieu,don_vi_tinh,ky,ma_dvhc,gia_tri\n"


def write(path: Path, lines: list[str]) -> Path:
    path.write_text(HEADER + "".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def value_lookups(engine: Any) -> list[str]:
    """Every statement that looks stored values up by key (the comparison of ``gateway.ingest``)."""
    seen: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "observations.value_key IN" in statement:
            seen.append(statement)

    return seen


def test_rows_written_in_bulk_are_what_the_mapping_says(
    gateway_factory: GatewayFactory, database_url: str, tmp_path: Path
) -> None:
    gw = gateway_factory(database_url=database_url)
    source = write(
        tmp_path / "a.csv",
        [
            "T0201,Dân số trung bình,người,2026-THANG-10,02647,10574",
            "T0501,Thu ngân sách,triệu đồng,2026-THANG-10,02674,1234.50",  # converted to tỷ đồng exactly
            "T0201,Dân số trung bình,người,2026-THANG-10,02680,007",  # not plain: the exact path
        ],
    )
    before = gw.clock.now()
    report = ingest(gw.sessions, CsvReader(source), MAPPING, gw.clock, reporting_unit="H15", batch_size=2)
    after = gw.clock.now()
    assert (report.read, report.mapped, report.added) == (3, 3, 3)
    with gw.sessions() as session:
        stored = list(session.scalars(select(Observation).order_by(Observation.id)))
    assert [o.value for o in stored] == ["10574", "1.2345", "7"]
    end = date(2026, 10, 14)
    for obs, line in zip(stored, CsvReader(source).read(), strict=True):
        assert isinstance(line, RawObservation)
        mapped = MAPPING.apply(line, end)
        assert obs.disaggregation == [["DVHC", mapped.admin_unit]]
        assert (obs.indicator_code, obs.unit, obs.form_code, obs.regime_code) == (
            mapped.indicator_code,
            mapped.unit,
            mapped.form_code,
            mapped.regime_code,
        )
        assert obs.content_hash == mapped.content_hash
        assert obs.value_key == value_key(
            "KTXH-THANG", mapped.form_code, mapped.indicator_code, "2026-THANG-10", "H15", obs.disaggregation
        )
        assert obs.source_ref == str(line.ref) and obs.mapping_version == MAPPING.version
        assert obs.ingest_run_id == report.run_id and obs.packet_id is None
        created = obs.created_at if obs.created_at.tzinfo else obs.created_at.replace(tzinfo=UTC)
        assert before <= created <= after  # the driver's datetime text reads back as the ORM's datetime


def test_a_first_load_looks_nothing_up_and_a_second_one_compares(
    gateway_factory: GatewayFactory, database_url: str, tmp_path: Path
) -> None:
    gw = gateway_factory(database_url=database_url)
    lines = [f"T0201,Dân số,người,2026-THANG-10,{c},{100 + i}" for i, c in enumerate(("02647", "02674", "02680"))]
    lookups = value_lookups(gw.engine)
    first = ingest(
        gw.sessions, CsvReader(write(tmp_path / "a.csv", lines)), MAPPING, gw.clock, reporting_unit="H15", batch_size=1
    )
    assert (first.added, first.changed, first.unchanged) == (3, 0, 0)
    # The defect: every batch looked its keys up, though nothing of the report was stored yet.
    assert lookups == []

    lines[1] = lines[1].replace(",101", ",999")
    again = ingest(
        gw.sessions, CsvReader(write(tmp_path / "b.csv", lines)), MAPPING, gw.clock, reporting_unit="H15", batch_size=1
    )
    assert (again.added, again.changed, again.unchanged) == (0, 1, 2)
    assert len(lookups) == 3  # now the report has values: each batch compares


def test_a_value_read_twice_in_one_run_is_compared_with_its_earlier_batch(
    gateway_factory: GatewayFactory, database_url: str, tmp_path: Path
) -> None:
    gw = gateway_factory(database_url=database_url)
    row = "T0201,Dân số,người,2026-THANG-10,02647,{}"
    other = "T0201,Dân số,người,2026-THANG-10,02674,5"
    source = write(tmp_path / "a.csv", [row.format(10), other, row.format(10), other, row.format(11)])
    report = ingest(gw.sessions, CsvReader(source), MAPPING, gw.clock, reporting_unit="H15", batch_size=1)
    # The repeats meet the values of earlier batches: equal ones are unchanged, and a different one
    # for the same place is a second value in the same source, quarantined (the first is kept).
    assert (report.read, report.added, report.unchanged, report.changed, report.quarantined) == (5, 2, 2, 0, 1)
    with gw.sessions() as session:
        values = session.scalars(select(Observation.value).order_by(Observation.id)).all()
    assert values == ["10", "5"]


def test_the_replay_path_builds_the_same_row_as_the_bulk_path() -> None:
    from datetime import datetime

    from gateway.ingest import _observation

    item = RawObservation(
        "T0201", None, "người", PeriodRef("THANG", 10, 2026), "02647", "12", SourceRef("x.csv", row=2), column="TH"
    )
    row, converted = _observation(item, MAPPING, 7, "H15", datetime(2026, 10, 20, tzinfo=UTC))
    assert converted is None and "disaggregation_db" not in row and "created_at_db" not in row
    assert row["value_key"] == value_key(
        "KTXH-THANG", row["form_code"], "0201", "2026-THANG-10", "H15", [["DVHC", "02647"]], "TH"
    )
    assert row["content_hash"] == MAPPING.apply(item, date(2026, 10, 14)).content_hash


def test_a_re_read_finds_stored_values_through_the_report_index(
    gateway_factory: GatewayFactory, database_url: str, tmp_path: Path
) -> None:
    """Migration 0014: the lookup of a re-read is a range scan of ``ix_observations_report`` on all
    five columns (report, then value key). The value key's own index is gone: it put every stored
    value on a random index page, and a commit at a national load wrote one page per value."""
    gw = gateway_factory(database_url=database_url)
    first = write(tmp_path / "a.csv", ["T0201,Dân số trung bình,người,2026-THANG-10,02647,10574"])
    ingest(gw.sessions, CsvReader(first), MAPPING, gw.clock, reporting_unit="H15")
    again = write(tmp_path / "b.csv", ["T0201,Dân số trung bình,người,2026-THANG-10,02647,10575"])
    report = ingest(gw.sessions, CsvReader(again), MAPPING, gw.clock, reporting_unit="H15")
    assert (report.added, report.changed) == (0, 1)  # found through the index, compared, stored as a change

    from gateway.db.models import unsent
    from gateway.ingest import stored_values
    from gateway.ingest_runs import visible_observation
    from gateway.reports import waiting_reports

    with gw.sessions() as session:
        stored = session.scalars(select(Observation).order_by(Observation.id)).first()
        assert stored is not None
        report_key = (stored.regime_code, stored.form_code, stored.period_key, stored.reporting_unit)
        query = stored_values(report_key, [str(stored.value_key)], report.run_id)
        conn = session.connection()
        compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
        if conn.dialect.name == "sqlite":
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}"))
            assert "USING INDEX ix_observations_report" in plan, plan
            assert "reporting_unit=? AND value_key=?" in plan, plan
        else:
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a tiny table: make the planner show the index
            plan = " ".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {compiled}"))
            assert "ix_observations_report" in plan and "value_key" in plan, plan
        names = {i["name"] for i in inspect_indexes(conn)}
        if conn.dialect.name == "sqlite":  # what the scheduler reads of a period comes from the index alone
            pending = [
                Observation.regime_code == stored.regime_code,
                unsent(),
                visible_observation(),
                Observation.period_key == stored.period_key,
            ]
            keys = waiting_reports(pending).compile(conn, compile_kwargs={"literal_binds": True})
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {keys}"))
            assert "USING COVERING INDEX ix_observations_report (period_key=? AND regime_code=?)" in plan, plan
            waiting = [tuple(r) for r in conn.execute(waiting_reports(pending))]
            assert waiting == [(stored.form_code, stored.period_key, stored.reporting_unit)]
    assert "ix_observations_value_key" not in names


def inspect_indexes(conn: Any) -> list[Any]:
    from sqlalchemy import inspect

    return list(inspect(conn).get_indexes("observations"))
