"""Hidden sheets: provinces' templates hide lookup lists (danh mục for drop-downs), old versions of a
table and working copies; they were read as if they were the report, without a word (found by an
outside test). Now a hidden sheet is not read unless the layout names it, and every reader says so.
The workbooks are written by openpyxl, as Excel and LibreOffice write sheet states, not by our generator."""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook

from adapters.base import RawObservation, ReadProblem
from adapters.template_infer import infer
from adapters.template_reader import TemplateReader
from adapters.xlsx_templates import XlsxTemplateReader
from tests.unit.test_template_reader import layout


def _book(path: Path) -> Path:
    """The report on a visible sheet, last year's copy hidden, the drop-down list very hidden."""
    wb = Workbook()
    for title, value, state in (("T10-2026", 30, "visible"), ("T10-2025", 999, "hidden"), ("DM", 1, "veryHidden")):
        ws = wb.active if title == "T10-2026" else wb.create_sheet(title)
        ws.title = title
        ws.sheet_state = state
        ws["A2"] = "Kỳ: 2026-THANG-10"
        ws.cell(5, 1, "Mã")
        ws.cell(5, 2, "Tên")
        ws.cell(5, 3, "Lũy kế")
        ws.cell(7, 5, "02647")
        ws.append(["T0201", "Dân số", value, None, value])
        for n in range(2, 6):  # a table, not a lone row: enough codes for ``infer`` to find the column
            ws.append([f"T020{n}", f"Chỉ tiêu {n}", n, None, n])
    wb.save(path)
    return path


def test_a_template_layout_reads_the_visible_sheet_and_names_each_hidden_one(tmp_path: Path) -> None:
    items = list(TemplateReader(_book(tmp_path / "b.xlsx"), layout()).read())
    assert {(o.ref.sheet, o.value) for o in items if isinstance(o, RawObservation) and o.indicator_code == "T0201"} == {
        ("T10-2026", "30")
    }
    assert {o.ref.sheet for o in items if isinstance(o, RawObservation)} == {"T10-2026"}
    problems = {p.ref.sheet: p.reason for p in items if isinstance(p, ReadProblem)}
    assert set(problems) == {"T10-2025", "DM"}
    assert problems["T10-2025"].startswith("sheet is hidden in the workbook: not read")
    assert problems["DM"].startswith("sheet is veryHidden in the workbook: not read")
    assert "sheets.names" in problems["DM"]


def test_a_hidden_sheet_the_layout_names_is_read(tmp_path: Path) -> None:
    spec = layout(sheets={"names": ["T10-2026", "T10-2025"]})
    items = list(TemplateReader(_book(tmp_path / "b.xlsx"), spec).read())
    assert sorted(
        (o.ref.sheet, o.value) for o in items if isinstance(o, RawObservation) and o.indicator_code == "T0201"
    ) == [
        ("T10-2025", "999"),
        ("T10-2026", "30"),
    ]
    assert [p for p in items if isinstance(p, ReadProblem)] == []  # DM is not selected: ignored, as the layout says


def test_the_example_workbook_reader_and_infer_say_the_same(tmp_path: Path) -> None:
    path = _book(tmp_path / "b.xlsx")
    items = list(XlsxTemplateReader(path).read())
    assert {o.ref.sheet for o in items if isinstance(o, RawObservation)} == {"T10-2026"}
    hidden = sorted(
        p.ref.sheet or "" for p in items if isinstance(p, ReadProblem) and "in the workbook: not read" in p.reason
    )
    assert hidden == ["DM", "T10-2025"]
    notes = infer(path).notes
    assert "sheet 'T10-2025' is hidden in the workbook: not looked at" in notes
    assert "sheet 'DM' is veryHidden in the workbook: not looked at" in notes
