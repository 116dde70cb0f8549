"""Hidden sheets: provinces' templates hide lookup lists (danh mục for drop-downs), old versions of a
table and working copies; they were read as if they were the report, without a word (found by an
outside test). Now a hidden sheet is not read unless the layout names it, and every reader says so.
The workbooks are written by openpyxl, as Excel and LibreOffice write sheet states, not by our generator."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
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
    # DM is not selected, but hidden: said all the same (a hidden copy or a look-alike name is never unsaid)
    assert [(p.ref.sheet, p.reason.split(":")[0]) for p in items if isinstance(p, ReadProblem)] == [
        ("DM", "sheet is veryHidden in the workbook")
    ]


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


def _restate(path: Path, title: str, state: str) -> Path:
    """The workbook with ``title``'s state attribute written as ``state`` (as other writers spell it)."""
    out = path.with_name(f"restated-{path.name}")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "xl/workbook.xml":
                data = re.sub(  # openpyxl writes every sheet's state: rewrite this one's
                    rf'(name="{re.escape(title)}"[^>]*?)state="[^"]*"'.encode(),
                    rf'\1state="{state}"'.encode(),
                    data,
                )
            dst.writestr(item, data)
    return out


@pytest.mark.parametrize("state", ["HIDDEN", " hidden ", "veryhidden", "collapsed"])
def test_a_sheet_state_spelled_otherwise_than_visible_is_not_read(tmp_path: Path, state: str) -> None:
    """Excel writes hidden and veryHidden; another writer's spelling, or a state we do not know, was
    read as visible without a word. Anything but "visible" is held back and named as written."""
    path = _restate(_book(tmp_path / "b.xlsx"), "T10-2025", state)
    items = list(TemplateReader(path, layout()).read())
    assert {o.ref.sheet for o in items if isinstance(o, RawObservation)} == {"T10-2026"}
    assert f"sheet is {state} in the workbook: not read" in {
        p.reason.split(" (")[0] for p in items if isinstance(p, ReadProblem)
    }


def test_a_strict_open_xml_workbook_is_named_not_read_as_nothing(tmp_path: Path) -> None:
    """Excel's "Strict Open XML Spreadsheet" keeps the parts under other namespaces: read as the usual
    format it gave "read 0, problems 0" (found from outside). It is one problem naming the file now."""
    plain = _book(tmp_path / "b.xlsx")
    strict = tmp_path / "strict.xlsx"
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(strict, "w") as dst:
        for item in src.infolist():
            data = src.read(item).replace(
                b"http://schemas.openxmlformats.org/spreadsheetml/2006/main",
                b"http://purl.oclc.org/ooxml/spreadsheetml/main",
            )
            dst.writestr(item, data)
    for reader in (TemplateReader(strict, layout()), XlsxTemplateReader(strict)):
        (problem,) = list(reader.read())
        assert isinstance(problem, ReadProblem) and problem.ref.source == str(strict)
        assert "Strict Open XML" in problem.reason and 'save it as "Excel Workbook (.xlsx)"' in problem.reason
