"""Reading a source again (issue 16, item 5): the same content is a no-op; values equal to the
stored ones are never stored twice; changed values of reports already sent make revision n+1 of
those reports only, naming each changed value. On SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import openpyxl
from sqlalchemy import func, select

from adapters.csv_exports import CsvReader
from adapters.xlsx_templates import XlsxTemplateReader
from gateway.bootstrap import Gateway
from gateway.calendar.regimes import load_regime
from gateway.db.models import AuditEvent, IngestRun, Observation, Packet
from gateway.demo import MAPPING, SAMPLE
from gateway.ingest import ingest
from gateway.packets import model as m
from gateway.packets.validate import read_packet
from gateway.reports import build_reports
from mappings.indicators import load_mapping
from tests.conftest import GatewayFactory, national_destination

REGIME = load_regime("KTXH-THANG")


def gateway(gateway_factory: GatewayFactory, database_url: str) -> Gateway:
    return gateway_factory(
        database_url=database_url, destinations={"national": national_destination("http://127.0.0.1:9/unused")}
    )


def build(gw: Gateway) -> list[Packet]:
    built = build_reports(
        gw.sessions,
        REGIME,
        sender=gw.settings.sender,
        destinations=gw.settings.destinations,
        sealer=gw.sealer,
        clock=gw.clock,
    )
    with gw.sessions() as session:
        return list(session.scalars(select(Packet).where(Packet.id.in_([b.packet_id for b in built]))))


def count(gw: Gateway, model: type[Observation] | type[Packet]) -> int:
    with gw.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def edited_copy(tmp_path: Path, name: str, edits: dict[tuple[str, str], object]) -> Path:
    """The example workbook saved again by openpyxl (other bytes, same figures) with ``edits``."""
    book = openpyxl.load_workbook(SAMPLE)
    for (sheet, cell), value in edits.items():
        book[sheet][cell] = value
    path = tmp_path / name
    book.save(path)
    return path


def test_the_same_file_again_is_a_no_op_and_sends_nothing_twice(
    gateway_factory: GatewayFactory, database_url: str, tmp_path: Path
) -> None:
    gw = gateway(gateway_factory, database_url)
    mapping = load_mapping(MAPPING)
    first = ingest(gw.sessions, XlsxTemplateReader(SAMPLE), mapping, gw.clock, reporting_unit="H15", gateway=gw)
    assert (first.state, first.added, first.changed, first.unchanged) == ("completed", 7994, 0, 0)
    stored = count(gw, Observation)
    assert len(build(gw)) == 20

    # The defect: the same workbook again stored every observation twice, and the next build made
    # identical revision-2 packets.
    again = ingest(gw.sessions, XlsxTemplateReader(SAMPLE), mapping, gw.clock, reporting_unit="H15", gateway=gw)
    assert again.state == "unchanged" and again.same_as == first.run_id and again.read == 0
    assert again.content_hash == first.content_hash
    renamed = tmp_path / "copy-of-the-same.xlsx"
    shutil.copyfile(SAMPLE, renamed)  # content, not name, decides
    assert ingest(gw.sessions, XlsxTemplateReader(renamed), mapping, gw.clock, reporting_unit="H15").state == (
        "unchanged"
    )
    assert count(gw, Observation) == stored
    assert build(gw) == []
    assert count(gw, Packet) == 20
    with gw.sessions() as session:
        runs = list(session.scalars(select(IngestRun).order_by(IngestRun.id)))
        events = list(session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("ingest.%"))))
    assert [r.state for r in runs] == ["completed", "unchanged", "unchanged"]
    assert events == ["ingest.completed", "ingest.unchanged", "ingest.unchanged"]


def test_same_figures_in_other_bytes_store_nothing_and_correct_nothing(
    gateway_factory: GatewayFactory, database_url: str, tmp_path: Path
) -> None:
    gw = gateway(gateway_factory, database_url)
    mapping = load_mapping(MAPPING)
    ingest(gw.sessions, XlsxTemplateReader(SAMPLE), mapping, gw.clock, reporting_unit="H15", gateway=gw)
    build(gw)
    resaved = edited_copy(tmp_path, "resaved.xlsx", {})
    report = ingest(gw.sessions, XlsxTemplateReader(resaved), mapping, gw.clock, reporting_unit="H15", gateway=gw)
    assert report.state == "completed" and report.content_hash is not None
    assert (report.read, report.added, report.changed, report.unchanged) == (8085, 0, 0, 7994)
    assert report.no_change and report.corrections == [] and report.changes == []
    assert count(gw, Observation) == 7994 and count(gw, Packet) == 20


def test_changed_values_of_sent_reports_make_one_correction_each_naming_the_values(
    gateway_factory: GatewayFactory, database_url: str, tmp_path: Path
) -> None:
    gw = gateway(gateway_factory, database_url)
    mapping = load_mapping(MAPPING)
    ingest(gw.sessions, XlsxTemplateReader(SAMPLE), mapping, gw.clock, reporting_unit="H15", gateway=gw)
    first = build(gw)
    book = openpyxl.load_workbook(SAMPLE, read_only=True)
    was_f8, was_g9 = book["T10-2026"]["F8"].value, book["T10-2026"]["G9"].value
    book.close()
    # Two values of one report (T0201 and T0203 are both in form BM02-XH, October 2026).
    changed = edited_copy(tmp_path, "corrected.xlsx", {("T10-2026", "F8"): 7200, ("T10-2026", "G9"): 140.25})
    report = ingest(gw.sessions, XlsxTemplateReader(changed), mapping, gw.clock, reporting_unit="H15", gateway=gw)
    assert (report.added, report.changed, report.unchanged) == (0, 2, 7992)
    assert report.changed_in_sent == 2
    assert [(c.report, c.indicator, c.disaggregation, c.was, c.now) for c in report.changes] == [
        ("KTXH-THANG/BM02-XH/2026-THANG-10/H15", "0201", "DVHC=02647", str(was_f8), "7200"),
        ("KTXH-THANG/BM02-XH/2026-THANG-10/H15", "0203", "DVHC=02674", str(was_g9), "140.25"),
    ]
    assert "sheet 'T10-2026', row 8, column F" in report.changes[0].where
    [correction] = report.corrections
    assert (correction.report, correction.revision) == ("KTXH-THANG/BM02-XH/2026-THANG-10/H15", 2)
    with gw.sessions() as session:
        packets = list(session.scalars(select(Packet).order_by(Packet.created_at)))
        run = session.get(IngestRun, report.run_id)
        assert run is not None and run.summary is not None
        named = run.summary["changes"]
        revision_1 = next(p for p in first if p.form_code == "BM02-XH" and p.period_key == "2026-THANG-10")
    assert len(packets) == 21 and packets[-1].id == correction.packet_id
    assert [(c["indicator"], c["was"], c["now"]) for c in named] == [
        ("0201", str(was_f8), "7200"),
        ("0203", str(was_g9), "140.25"),
    ]
    assert (run.added, run.changed, run.unchanged) == (0, 2, 7992)
    body = read_packet(packets[-1].payload, source="revision 2", profile=gw.profile).body
    old = read_packet(revision_1.payload, source="revision 1", profile=gw.profile).body
    assert isinstance(body, m.ReportFigures) and isinstance(old, m.ReportFigures)
    assert body.revision == 2 and len(body.figures) == len(old.figures)
    values = {(f.indicator_code, f.disaggregation[0].value_code): f.value for f in body.figures}
    assert values[("0201", "02647")] == "7200" and values[("0203", "02674")] == "140.25"
    before = {(f.indicator_code, f.disaggregation[0].value_code): f.value for f in old.figures}
    assert {k for k in values if values[k] != before[k]} == {("0201", "02647"), ("0203", "02674")}
    assert build(gw) == []  # nothing left over for the scheduler to send a second time


def test_a_value_added_to_a_sent_report_corrects_it_and_unsent_reports_wait_for_the_scheduler(
    gateway_factory: GatewayFactory, database_url: str, tmp_path: Path
) -> None:
    gw = gateway(gateway_factory, database_url)
    mapping = load_mapping(MAPPING)
    first = tmp_path / "first.csv"
    header = "ma_chi_tieu,ten_chi_tieu,don_vi_tinh,ky,ma_dvhc,gia_tri\n"
    first.write_text(header + "T0201,Dân số trung bình,người,2026-THANG-10,02647,7105\n", encoding="utf-8")
    ingest(gw.sessions, CsvReader(first), mapping, gw.clock, reporting_unit="H15", gateway=gw)
    assert len(build(gw)) == 1
    second = tmp_path / "second.csv"
    second.write_text(
        header
        + "T0201,Dân số trung bình,người,2026-THANG-10,02647,7105\n"
        + "T0201,Dân số trung bình,người,2026-THANG-10,02674,9499\n"  # a commune that reported late
        + "T0501,Tổng mức bán lẻ,triệu đồng,2026-THANG-9,02647,1200\n",  # a report not sent yet
        encoding="utf-8",
    )
    report = ingest(gw.sessions, CsvReader(second), mapping, gw.clock, reporting_unit="H15", gateway=gw)
    assert (report.added, report.changed, report.unchanged) == (2, 0, 1)
    assert [(c.report, c.was, c.now) for c in report.changes] == [
        ("KTXH-THANG/BM02-XH/2026-THANG-10/H15", None, "9499")
    ]
    assert [c.revision for c in report.corrections] == [2]
    [september] = build(gw)
    assert (september.form_code, september.period_key, september.revision) == ("BM01-KT", "2026-THANG-9", 1)


def test_without_a_gateway_the_reports_to_correct_are_named(
    gateway_factory: GatewayFactory, database_url: str, tmp_path: Path
) -> None:
    gw = gateway(gateway_factory, database_url)
    mapping = load_mapping(MAPPING)
    ingest(gw.sessions, XlsxTemplateReader(SAMPLE), mapping, gw.clock, reporting_unit="H15")
    build(gw)
    changed = edited_copy(tmp_path, "corrected.xlsx", {("T09-2026", "F8"): 1})
    report = ingest(gw.sessions, XlsxTemplateReader(changed), mapping, gw.clock, reporting_unit="H15")
    assert report.corrections == [] and list(report.to_correct) == ["KTXH-THANG/BM02-XH/2026-THANG-9/H15"]
