"""Report building streams by report key and links observations to their packet in a few statements
(issue 19): the bundled workbook's reports are built one report at a time, every observation ends up
in exactly one packet that carries its value, and no UPDATE of ``observations`` is an executemany of
one parameter set per observation (what the ORM flush did)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import event, func, select

from adapters.xlsx_templates import XlsxTemplateReader
from gateway.bootstrap import Gateway
from gateway.calendar.regimes import load_regime
from gateway.clock import VN_TZ, FrozenClock
from gateway.db.models import Observation, Packet
from gateway.demo import MAPPING, SAMPLE
from gateway.ingest import ingest
from gateway.reports import BuiltPacket, build_reports
from mappings.indicators import load_mapping
from tests.conftest import GatewayFactory, national_destination


def build_october(gw: Gateway, clock: FrozenClock) -> list[BuiltPacket]:
    """Every report of October 2026 of the monthly regime, built as the scheduler builds them."""
    return build_reports(
        gw.sessions,
        load_regime("KTXH-THANG"),
        sender=gw.settings.sender,
        destinations=gw.settings.destinations,
        sealer=gw.sealer,
        clock=clock,
        period_key="2026-THANG-10",
    )


def test_reports_link_every_observation_with_few_narrow_inserts(
    gateway_factory: GatewayFactory, database_url: str
) -> None:
    clock = FrozenClock(datetime(2026, 11, 20, 9, tzinfo=VN_TZ))
    gw = gateway_factory(
        database_url=database_url, clock=clock, destinations={"national": national_destination("http://127.0.0.1:9/")}
    )
    report = ingest(gw.sessions, XlsxTemplateReader(SAMPLE), load_mapping(MAPPING), clock, reporting_unit="H15")
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        text = " ".join(statement.split()).upper()
        if text.startswith("UPDATE OBSERVATIONS") or text.startswith("INSERT INTO OBSERVATION_LINKS"):
            statements.append(text[:40])

    event.listen(gw.engine, "before_cursor_execute", seen)
    try:
        built = build_october(gw, clock)
    finally:
        event.remove(gw.engine, "before_cursor_execute", seen)
    assert built
    # Linking appends narrow rows (one statement per chunk of ids), never rewrites the observations
    # (issue 19: the UPDATE was 26 s of a 57 s PostgreSQL build of the national load).
    assert statements and all(s.startswith("INSERT INTO OBSERVATION_LINKS") for s in statements), statements
    assert len(statements) <= len(built) * 2
    with gw.sessions() as s:
        linked = s.scalar(
            select(func.count()).where(Observation.period_key == "2026-THANG-10", Observation.packet_id.isnot(None))
        )
        unlinked = s.scalar(
            select(func.count()).where(Observation.period_key == "2026-THANG-10", Observation.packet_id.is_(None))
        )
        sent = 0
        for payload, packet_id in s.execute(
            select(Packet.payload, Packet.id).where(Packet.id.in_([b.packet_id for b in built]))
        ):
            figures = json.loads(payload)["NoiDung"]["SoLieu"]
            sent += len(figures)
            mine = s.scalar(select(func.count()).select_from(Observation).where(Observation.packet_id == packet_id))
            assert mine == len(figures)  # each packet carries exactly the observations linked to it
    assert unlinked == 0 and linked == sent == sum(b.values for b in built)
    assert report.mapped >= linked


def test_building_loads_no_orm_objects_and_keeps_the_latest_value_of_each_key(
    gateway_factory: GatewayFactory, database_url: str, tmp_path: Any
) -> None:
    """The scheduler's build reads observations as plain rows (issue 19: loading an ORM object per
    observation cost more than building the packet); what it sends is unchanged: one figure per value
    key, the latest observation's value, disaggregations as stored."""
    from adapters.csv_exports import CsvReader

    clock = FrozenClock(datetime(2026, 11, 20, 9, tzinfo=VN_TZ))
    gw = gateway_factory(
        database_url=database_url, clock=clock, destinations={"national": national_destination("http://127.0.0.1:9/")}
    )
    mapping = load_mapping(MAPPING)
    header = "ma_chi_tieu,ten_chi_tieu,don_vi_tinh,ky,ma_dvhc,gia_tri\n"
    first = tmp_path / "first.csv"
    first.write_text(
        header + "T0201,Dân số,người,2026-THANG-10,02647,100\nT0201,Dân số,người,2026-THANG-10,02674,200\n",
        encoding="utf-8",
    )
    second = tmp_path / "second.csv"  # the same source again, one value corrected before anything was sent
    second.write_text(header + "T0201,Dân số,người,2026-THANG-10,02647,150\n", encoding="utf-8")
    for source in (first, second):
        ingest(gw.sessions, CsvReader(source), mapping, clock, reporting_unit="H15")
    loaded: list[object] = []

    def on_load(target: object, context: object) -> None:
        loaded.append(target)

    event.listen(Observation, "load", on_load)
    try:
        built = build_october(gw, clock)
    finally:
        event.remove(Observation, "load", on_load)
    assert loaded == []  # the defect: one ORM Observation per value
    assert len(built) == 1 and built[0].values == 2
    with gw.sessions() as s:
        payload = s.scalar(select(Packet.payload).where(Packet.id == built[0].packet_id))
        links = {value: packet for value, packet in s.execute(select(Observation.value, Observation.packet_id))}
    assert payload is not None
    figures = json.loads(payload)["NoiDung"]["SoLieu"]
    by_place = {f["PhanTo"][0]["MaGiaTri"]: f["GiaTri"] for f in figures}
    assert by_place == {"02647": "150", "02674": "200"}
    assert set(links.values()) == {built[0].packet_id}  # the replaced value is linked too: it was read


def test_an_sqlite_without_json_each_links_by_executemany(gateway_factory: GatewayFactory, monkeypatch: Any) -> None:
    """SQLite links a report's ids with ``json_each`` (built in since 3.38); a library without it
    links the same rows one prepared statement at a time."""
    import sqlite3

    from gateway import reports

    clock = FrozenClock(datetime(2026, 11, 20, 9, tzinfo=VN_TZ))
    gw = gateway_factory(clock=clock, destinations={"national": national_destination("http://127.0.0.1:9/")})
    with gw.engine.connect() as conn:
        assert reports._has_json_each(conn)  # this machine's SQLite: the suite takes the fast path elsewhere
    monkeypatch.setitem(reports._JSON_EACH, sqlite3.sqlite_version, False)
    ingest(gw.sessions, XlsxTemplateReader(SAMPLE), load_mapping(MAPPING), clock, reporting_unit="H15")
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        if "OBSERVATION_LINKS" in statement.upper() and statement.upper().lstrip().startswith("INSERT"):
            statements.append(" ".join(statement.split()))

    event.listen(gw.engine, "before_cursor_execute", seen)
    try:
        built = build_october(gw, clock)
    finally:
        event.remove(gw.engine, "before_cursor_execute", seen)
    assert built and statements and all("VALUES (?, ?)" in s and "json_each" not in s for s in statements)
    with gw.sessions() as s:
        unlinked = s.scalar(
            select(func.count()).where(Observation.period_key == "2026-THANG-10", Observation.packet_id.is_(None))
        )
    assert unlinked == 0 and sum(b.values for b in built) > 0


def test_the_packet_names_the_mapping_version_of_its_first_figure(
    gateway_factory: GatewayFactory, database_url: str, tmp_path: Any
) -> None:
    """The version is read for the report's first chosen figure, not carried on every row: when the
    first observation by id was replaced, the packet names the version of the first that was sent."""
    from adapters.csv_exports import CsvReader

    clock = FrozenClock(datetime(2026, 11, 20, 9, tzinfo=VN_TZ))
    gw = gateway_factory(
        database_url=database_url, clock=clock, destinations={"national": national_destination("http://127.0.0.1:9/")}
    )
    header = "ma_chi_tieu,ten_chi_tieu,don_vi_tinh,ky,ma_dvhc,gia_tri\n"
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text(header + "T0201,Dân số,người,2026-THANG-10,02647,100\n", encoding="utf-8")
    second.write_text(
        header + "T0201,Dân số,người,2026-THANG-10,02674,200\nT0201,Dân số,người,2026-THANG-10,02647,150\n",
        encoding="utf-8",
    )
    old, new = load_mapping(MAPPING), load_mapping(MAPPING)
    old.version, new.version = "lao-cai/old", "lao-cai/new"
    ingest(gw.sessions, CsvReader(first), old, clock, reporting_unit="H15")
    ingest(gw.sessions, CsvReader(second), new, clock, reporting_unit="H15")
    built = build_october(gw, clock)
    assert len(built) == 1 and built[0].values == 2
    with gw.sessions() as s:
        assert s.scalar(select(Packet.mapping_version).where(Packet.id == built[0].packet_id)) == "lao-cai/new"
