"""The CSV reader takes fields by position (issue 19: a dict per row cost more than reading the row).
What it yields must stay what ``LongFormat.item`` makes of the same record as a dict: the export
below is hand-written in the shape provincial systems send (quoted names with commas, a blank value,
a value of spaces, a row without a code, impossible periods, a unit with padding, an empty commune,
an empty line, a short row), and each row's expected item is written out here, not computed by the
reader."""

from __future__ import annotations

import csv
import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import sessionmaker

from adapters.base import Blank, PeriodRef, RawObservation, ReadItem, ReadProblem, SourceRef
from adapters.csv_exports import CsvLayout, CsvReader
from adapters.long_format import LongFormat
from gateway.clock import SystemClock
from gateway.db.engine import make_engine, upgrade
from gateway.ingest import ingest
from mappings.indicators import MAPPINGS_DIR, load_mapping

EXPORT = (
    "ma_chi_tieu,ten_chi_tieu,don_vi_tinh,ky,ma_dvhc,gia_tri\n"
    'T0201,"Dân số, trung bình",người,2026-THANG-10,02647,10574\n'  # 2
    "T0201,,người,2026-THANG-10,02674,\n"  # 3: blank
    "T0201,Dân số,người,2026-THANG-10,02680,   \n"  # 4: blank (spaces)
    ",Dân số,người,2026-THANG-10,02683,12\n"  # 5: no code
    "T0201,Dân số,người,2026-THANG-13,02683,12\n"  # 6: no 13th month
    "T0201,Dân số,người,10/2026,02683,12\n"  # 7: not a period key
    " T0501 ,Thu ngân sách,  triệu đồng ,2026-THANG-10,,1234.50\n"  # 8: padded code and unit, no commune
    "\n"  # 9: an empty line is not a record
    "T0201,Dân số,người,2026-THANG-10\n"  # 10: four fields
    "T0201,Dân số,,2026-QUY-4, 02647 ,007\n"  # 11: no unit, padded commune, value kept as written
    ",,,,,\n"  # 12: a spreadsheet's blank row saved as CSV: a record with nothing in it, counted
    " , ,,,, \n"  # 13: the same, with spaces
)


def expected(source: str) -> list[object]:
    def ref(line: int) -> SourceRef:
        return SourceRef(source, row=line)

    october = PeriodRef("THANG", 10, 2026)
    return [
        RawObservation("T0201", "Dân số, trung bình", "người", october, "02647", "10574", ref(2)),
        Blank(ref(3), "T0201"),
        Blank(ref(4), "T0201"),
        ReadProblem,
        ReadProblem,
        ReadProblem,
        RawObservation("T0501", "Thu ngân sách", "triệu đồng", october, None, "1234.50", ref(8)),
        ReadProblem,
        RawObservation("T0201", "Dân số", None, PeriodRef("QUY", 4, 2026), "02647", "007", ref(11)),
        Blank(ref(12)),
        Blank(ref(13)),
    ]


def general(path: Path) -> list[object]:
    """What ``LongFormat.item`` makes of each record as a dict (the path every reader had)."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, out = rows[0], []
    for line, row in enumerate(rows[1:], start=2):
        if not "".join(row).strip():
            if len(row) > 1:
                out.append(Blank(SourceRef(str(path), row=line)))
            continue  # an empty line is not a record
        if len(row) != len(header):
            out.append(ReadProblem)
            continue
        out.append(LongFormat().item(dict(zip(header, row, strict=True)), SourceRef(str(path), row=line)))
    return out


@pytest.mark.parametrize("order", ["as exported", "columns reversed"])
def test_the_positional_reader_yields_what_the_record_reader_does(tmp_path: Path, order: str) -> None:
    lines = [line.split(",") if '"' not in line else next(csv.reader([line])) for line in EXPORT.splitlines()]
    if order == "columns reversed":  # fields found by name, wherever the export puts them
        lines = [list(reversed(line)) for line in lines]
    path = tmp_path / "export.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(lines)
    items = list(CsvReader(path).read())
    want = expected(str(path))
    assert len(items) == len(want)
    for got, wanted, other in zip(items, want, general(path), strict=True):
        if wanted is ReadProblem:
            assert isinstance(got, ReadProblem), got
            assert isinstance(other, ReadProblem) or other is ReadProblem
        else:
            assert got == wanted
            assert got == other
    reasons = [i.reason for i in items if isinstance(i, ReadProblem)]
    assert any("no indicator code" in r for r in reasons)
    assert any("THANG numbers run from 1 to 12" in r for r in reasons)
    assert any("'10/2026' is not of the form" in r for r in reasons)
    assert any("4 fields, the header has 6" in r for r in reasons)


def test_a_repeated_column_name_reads_its_last_field(tmp_path: Path) -> None:
    """As a record dict has it (the later field of a name wins), so both paths agree."""
    path = tmp_path / "twice.csv"
    path.write_text(
        "ma_chi_tieu,gia_tri,ky,ma_dvhc,gia_tri\nT0201,1,2026-THANG-10,02647,2\nT0201,1,2026-THANG-10,02647,\n",
        encoding="utf-8",
    )
    items = list(CsvReader(path).read())
    assert isinstance(items[0], RawObservation) and items[0].value == "2"
    assert items[0].unit is None and items[0].indicator_name is None
    assert isinstance(items[1], Blank)
    assert items == general(path)


def test_a_layout_with_breakdown_fields_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "sex.csv"
    path.write_text(
        "ma_chi_tieu,ky,ma_dvhc,gioi_tinh,gia_tri\nT0201,2026-THANG-10,02647,Nữ,5\nT0201,2026-THANG-10,02647,,6\n",
        encoding="utf-8",
    )
    fields = LongFormat(dimensions=(("gioi_tinh", "GIOI_TINH"),))
    items = list(CsvReader(path, CsvLayout(fields=fields)).read())
    assert isinstance(items[0], RawObservation) and items[0].disaggregation == (("GIOI_TINH", "Nữ"),)
    assert isinstance(items[1], RawObservation) and items[1].disaggregation == ()


def test_no_collector_pass_while_a_source_is_read_and_it_resumes_after(tmp_path: Path) -> None:
    """Issue 19: the cyclic collector walked the batch's rows again and again while a large file was
    read; it is paused for the read and on again (as it was) once the run ends."""
    path = tmp_path / "export.csv"
    path.write_text(EXPORT, encoding="utf-8")
    seen: list[bool] = []

    class Watching(CsvReader):
        def read(self) -> Iterator[ReadItem]:
            for item in super().read():
                seen.append(gc.isenabled())
                yield item

    engine = make_engine(f"sqlite:///{tmp_path / 'gw.sqlite'}")
    upgrade(engine)
    mapping = load_mapping(MAPPINGS_DIR / "indicators" / "lao-cai-ktxh.yaml")
    assert gc.isenabled()
    report = ingest(sessionmaker(engine), Watching(path), mapping, SystemClock(), reporting_unit="H15")
    assert gc.isenabled()
    assert seen and not any(seen)
    assert report.read == 11 and report.balanced and report.mapped == 3 and report.blank == 4
    engine.dispose()
