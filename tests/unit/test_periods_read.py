"""Impossible periods are problems named where they were read (a CSV record, a sheet name, a column
header), not errors deep in the calendar: ``2026-THANG-13`` once stopped an ingest with a traceback,
and ``2026-NAM-2`` was taken as a period."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from adapters.base import PeriodRef, RawObservation, ReadProblem, SourceRef, period_ref
from adapters.long_format import LongFormat
from adapters.xlsx_templates import XlsxTemplateLayout, XlsxTemplateReader

IMPOSSIBLE = [
    "2026-THANG-13",
    "2026-THANG-0",
    "2026-QUY-5",
    "2026-6THANG-3",
    "2026-9THANG-2",
    "2026-NAM-2",
    "0000-NAM-1",
]


@pytest.mark.parametrize("key", IMPOSSIBLE)
def test_a_record_with_an_impossible_period_is_a_problem_naming_it(key: str) -> None:
    record = {"ma_chi_tieu": "T0201", "ky": key, "gia_tri": "1", "ma_dvhc": "02647"}
    item = LongFormat().item(record, SourceRef("x.csv", row=2))
    assert isinstance(item, ReadProblem)
    assert item.reason.startswith(f"period {key}: ") and item.ref.row == 2


@pytest.mark.parametrize("key", ["2026-THANG-12", "2026-QUY-4", "2026-6THANG-2", "2026-9THANG-1", "2026-NAM-1"])
def test_the_last_period_of_each_type_is_read(key: str) -> None:
    record = {"ma_chi_tieu": "T0201", "ky": key, "gia_tri": "1"}
    item = LongFormat().item(record, SourceRef("x.csv", row=2))
    assert isinstance(item, RawObservation) and item.period.key == key


def test_period_ref_names_an_unknown_type() -> None:
    assert "unknown period type 'THANGG'" in str(period_ref("THANGG", 1, 2026))
    assert period_ref("TUAN", 53, 2026) == PeriodRef("TUAN", 53, 2026)


def _workbook(path: Path, title: str, header: str | None = None) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = title
    ws.cell(7, 5, header or "02647")
    ws.cell(8, 2, "T0201")
    ws.cell(8, 3, "Dân số")
    ws.cell(8, 4, "người")
    ws.cell(8, 5, 8512)
    wb.save(path)
    return path


def test_a_sheet_named_for_an_impossible_month_is_one_problem_naming_the_sheet(tmp_path: Path) -> None:
    items = list(XlsxTemplateReader(_workbook(tmp_path / "t.xlsx", "T13-2026")).read())
    assert len(items) == 1 and isinstance(items[0], ReadProblem)
    assert items[0].ref.sheet == "T13-2026"
    assert "THANG numbers run from 1 to 12; the sheet is not read" in items[0].reason


def test_a_period_column_with_an_impossible_period_is_one_problem_naming_the_header(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "p.xlsx", "Data", header="2026-QUY-5")
    items = list(XlsxTemplateReader(path, XlsxTemplateLayout(columns="period", admin_unit="02647")).read())
    problems = [i for i in items if isinstance(i, ReadProblem)]
    assert [i for i in items if isinstance(i, RawObservation)] == []
    assert len(problems) == 1 and problems[0].ref.column == "E"
    assert "is not a period (period 2026-QUY-5: QUY numbers run from 1 to 4)" in problems[0].reason
