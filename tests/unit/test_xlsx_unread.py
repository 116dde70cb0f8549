"""A workbook whose shape is not the layout's is said so, cell by cell or sheet by sheet, never read
as nothing: found by an outside test, where a province's workbook with its commune codes in row 4
(the default layout expects row 7) read 0 values, 0 problems, and exited 0.

The workbooks are written here with openpyxl as a province's office would lay them out, not by the
gateway's sample generator."""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook

from adapters.base import Blank, RawObservation, ReadItem, ReadProblem
from adapters.xlsx_templates import XlsxTemplateReader

COMMUNES = ["02647", "02650", "02653"]
ROWS = [
    ("T0201", "Dân số trung bình", "người", [8512, 9120, 7433]),
    ("T0301", "Số lao động được tạo việc làm mới", "người", [40, 41, 39]),
    ("T0302", "Số người được đào tạo nghề", "người", [25, 0, 31]),
]


def workbook(path: Path, codes_row: int, *, extra_column: bool = False) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = "T10-2026"
    ws.cell(1, 1, "UBND TỈNH LÀO CAI")
    ws.cell(2, 1, "Biểu 01/KTXH: Một số chỉ tiêu kinh tế - xã hội tháng 10 năm 2026")
    for i, code in enumerate(COMMUNES):
        ws.cell(codes_row, 5 + i, code)
    for r, (code, name, unit, values) in enumerate(ROWS, start=codes_row + 1):
        ws.cell(r, 2, code)
        ws.cell(r, 3, name)
        ws.cell(r, 4, unit)
        for i, value in enumerate(values):
            ws.cell(r, 5 + i, value)
        if extra_column:
            ws.cell(r, 5 + len(COMMUNES), 1)  # a value under no commune code
    wb.save(path)
    return path


def kinds(items: list[ReadItem]) -> tuple[int, int, int]:
    return (
        sum(isinstance(i, RawObservation) for i in items),
        sum(isinstance(i, ReadProblem) for i in items),
        sum(isinstance(i, Blank) for i in items),
    )


def test_codes_where_the_layout_expects_them_read_every_value(tmp_path: Path) -> None:
    items = list(XlsxTemplateReader(workbook(tmp_path / "ok.xlsx", 7)).read())
    assert kinds(items) == (9, 0, 0)


def test_codes_above_the_expected_row_are_said_number_by_number(tmp_path: Path) -> None:
    """Codes in row 4: the rows 5 and 6 lie above the first data row (8), and row 7, where the layout
    looks for codes, holds the third indicator's numbers."""
    items = list(XlsxTemplateReader(workbook(tmp_path / "row4.xlsx", 4)).read())
    problems = [i for i in items if isinstance(i, ReadProblem)]
    assert not any(isinstance(i, RawObservation) for i in items)
    above = [p for p in problems if "a number above the first data row (8)" in p.reason]
    assert {(p.ref.row, p.ref.column) for p in above} == {(r, c) for r in (5, 6) for c in "EFG"}, problems


def test_codes_below_the_expected_row_are_one_problem_for_the_sheet(tmp_path: Path) -> None:
    items = list(XlsxTemplateReader(workbook(tmp_path / "row8.xlsx", 8)).read())
    problems = [i.reason for i in items if isinstance(i, ReadProblem)]
    assert not any(isinstance(i, RawObservation) for i in items)
    assert any(p.startswith("no administrative-unit codes in row 7 from column E on") for p in problems), problems


def test_a_value_under_no_code_is_named(tmp_path: Path) -> None:
    items = list(XlsxTemplateReader(workbook(tmp_path / "extra.xlsx", 7, extra_column=True)).read())
    assert kinds(items) == (9, 3, 0)
    located = sorted((i.ref.sheet, i.ref.row, i.ref.column) for i in items if isinstance(i, ReadProblem))
    assert located == [("T10-2026", 8, "H"), ("T10-2026", 9, "H"), ("T10-2026", 10, "H")]


def test_two_rows_under_codes_in_row_4_leave_the_code_row_empty_and_the_sheet_is_named(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = "T10-2026"
    for i, code in enumerate(COMMUNES):
        ws.cell(4, 5 + i, code)
    ws.cell(5, 2, "T0201")
    ws.cell(5, 5, 8512)
    wb.save(tmp_path / "short.xlsx")
    items = list(XlsxTemplateReader(tmp_path / "short.xlsx").read())
    problems = [i.reason for i in items if isinstance(i, ReadProblem)]
    assert problems[0].startswith("no administrative-unit codes in row 7") and "4 value cell(s)" in problems[0]
