"""Hostile workbooks and CSV files cost bounded work: every limit reached is a problem naming it
(``limits.max_*``), the defaults are far beyond any real template and a layout can raise them; a
workbook of a million empty rows is read in seconds and megabytes; an unterminated CSV quote is
reported with its line instead of swallowing the lines after it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

from openpyxl import Workbook

from adapters.base import RawObservation, ReadItem, ReadProblem
from adapters.csv_exports import CsvReader
from adapters.template_reader import TemplateReader
from adapters.template_spec import TemplateSpec

ROOT = Path(__file__).resolve().parents[2]
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def spec(**changes: Any) -> TemplateSpec:
    raw: dict[str, Any] = {
        "name": "t",
        "header_rows": [1],
        "columns": {"code": {"column": "A"}},
        "values": [{"header": "^Số liệu$", "code": "TH"}],
        "period": {"source": "option"},
    }
    raw.update(changes)
    return TemplateSpec.model_validate(raw)


def read(path: Path, layout: TemplateSpec, adapter: str = "xlsx") -> list[ReadItem]:
    from adapters.base import PeriodRef

    return list(TemplateReader(path, layout, adapter=adapter, period=PeriodRef("THANG", 10, 2026)).read())


def with_sheet(path: Path, rows_xml: str, dimension: str = "A1:B3", title: str = "Data") -> Path:
    """A workbook written by openpyxl whose first sheet's rows are replaced by ``rows_xml``."""
    wb = Workbook()
    wb.active.title = title
    wb.active["A1"] = "x"
    plain = path.with_suffix(".plain.xlsx")
    wb.save(plain)
    sheet = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{MAIN}">'
        f'<dimension ref="{dimension}"/><sheetData>'
        '<row r="1"><c r="A1" t="inlineStr"><is><t>Mã</t></is></c>'
        '<c r="B1" t="inlineStr"><is><t>Số liệu</t></is></c></row>'
        f"{rows_xml}</sheetData></worksheet>"
    )
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for item in src.infolist():
            data = sheet.encode() if item.filename == "xl/worksheets/sheet1.xml" else src.read(item.filename)
            dst.writestr(item.filename, data)
    return path


def data_row(r: int, code: str = "T0201", value: str = "5", col: str = "B") -> str:
    return f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>{code}</t></is></c><c r="{col}{r}"><v>{value}</v></c></row>'


def problems(items: list[ReadItem]) -> list[str]:
    return [i.reason for i in items if isinstance(i, ReadProblem)]


def values(items: list[ReadItem]) -> list[tuple[str, object]]:
    return [(i.indicator_code, i.value) for i in items if isinstance(i, RawObservation)]


def test_each_limit_reached_is_a_problem_naming_it_and_a_layout_can_raise_it(tmp_path: Path) -> None:
    rows = with_sheet(tmp_path / "rows.xlsx", data_row(2) + data_row(3) + data_row(4))
    assert values(read(rows, spec(limits={"max_rows": 3}))) == [("T0201", "5"), ("T0201", "5")]
    assert any("limits.max_rows=3" in p for p in problems(read(rows, spec(limits={"max_rows": 3}))))
    assert problems(read(rows, spec(limits={"max_rows": 4}))) == []  # raised in the layout: read

    wide = with_sheet(tmp_path / "wide.xlsx", data_row(2) + data_row(3, col="XFD"))
    found = problems(read(wide, spec()))
    assert any("column XFD" in p and "limits.max_columns=1,000" in p for p in found), found

    cells = with_sheet(tmp_path / "cells.xlsx", "".join(data_row(r) for r in range(2, 12)))
    found = problems(read(cells, spec(limits={"max_cells": 8})))
    assert any("limits.max_cells=8" in p for p in found), found

    gap = with_sheet(tmp_path / "gap.xlsx", data_row(2) + data_row(500))
    found = problems(read(gap, spec(limits={"max_empty_rows": 100})))
    assert values(read(gap, spec(limits={"max_empty_rows": 100}))) == [("T0201", "5")]
    assert any("more than 100 consecutive empty rows after row 2" in p and "limits.max_empty_rows" in p for p in found)
    assert len(values(read(gap, spec()))) == 2  # the default reads it

    size = with_sheet(tmp_path / "size.xlsx", data_row(2))
    found = problems(read(size, spec(limits={"max_decompressed_bytes": 2000})))
    assert len(found) == 1 and "limits.max_decompressed_bytes=2,000" in found[0], found


def test_trailing_formatted_empty_rows_are_no_problem(tmp_path: Path) -> None:
    """Sheets formatted far below their table (row heights, styles) are common and harmless."""
    empty = "".join(f'<row r="{r}" ht="15" customHeight="1"><c r="B{r}" s="0"/></row>' for r in range(3, 30_000))
    path = with_sheet(tmp_path / "formatted.xlsx", data_row(2) + empty, dimension="A1:XFD30000")
    items = read(path, spec())
    assert values(items) == [("T0201", "5")] and problems(items) == []


HOSTILE = r"""
import re, sys, time
from pathlib import Path
from adapters.xlsx_templates import XlsxTemplateReader
from adapters.template_reader import TemplateReader
from adapters.template_spec import TemplateSpec
from adapters.base import PeriodRef, RawObservation
path = Path(sys.argv[1])
started = time.perf_counter()
if sys.argv[2] == "built-in":
    items = list(XlsxTemplateReader(path).read())
else:
    layout = TemplateSpec.model_validate({"name": "t", "header_rows": [7], "columns": {"code": {"column": "B"}},
        "values": [{"header": "^[0-9]{5}$", "code": "TH"}], "period": {"source": "option"}})
    items = list(TemplateReader(path, layout, period=PeriodRef("THANG", 10, 2026)).read())
seconds = time.perf_counter() - started
values = sum(isinstance(i, RawObservation) for i in items)
peak = re.search(r"VmHWM:\s+(\d+) kB", open("/proc/self/status").read())  # this process's own peak
print(seconds, int(peak[1]) // 1024, values)
"""


def test_a_workbook_of_a_million_empty_rows_is_fast_and_small(tmp_path: Path) -> None:
    """The issue's 653 KB workbook: a declared dimension of A1:XFD1048576 over a million empty rows
    took 108 s and 7.7 GB (openpyxl's read-only sheets pad every row to the dimension)."""
    empty = '<row spans="1:16384" ht="15" customHeight="1"/>' * (1_048_576 - 8)  # rows numbered by position
    table = (  # the built-in shape: unit codes in row 7, codes in column B from row 8
        '<row r="7"><c r="E7" t="inlineStr"><is><t>02647</t></is></c></row>'
        '<row r="8"><c r="B8" t="inlineStr"><is><t>T0201</t></is></c><c r="E8"><v>8512</v></c></row>'
    )
    path = with_sheet(tmp_path / "hostile.xlsx", table + empty, dimension="A1:XFD1048576", title="T10-2026")
    assert 100_000 < path.stat().st_size < 1_000_000  # of the order of the 653 KB
    for reader in ("built-in", "layout"):
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(HOSTILE), str(path), reader],
            capture_output=True, text=True, timeout=120, cwd=ROOT,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        seconds, megabytes, read_values = done.stdout.split()
        assert float(seconds) < 20, f"{reader}: {seconds} s"
        assert int(megabytes) < 300, f"{reader}: {megabytes} MB"
        assert int(read_values) == 1


def test_an_unterminated_csv_quote_is_reported_with_its_line(tmp_path: Path) -> None:
    """The lenient parse read the quote to the end of the file: the lines after it became one field
    of a record that looked whole, silently."""
    path = tmp_path / "quote.csv"
    path.write_text(
        "ma_chi_tieu,ten_chi_tieu,don_vi_tinh,ky,ma_dvhc,gia_tri\r\n"
        "T0201,Dân số,người,2026-THANG-10,02647,8512\r\n"
        'T0301,"Lao động,người,2026-THANG-10,02647,40\r\n'
        "T0302,Đào tạo,người,2026-THANG-10,02647,25\r\n",
        encoding="utf-8",
    )
    items = list(CsvReader(path).read())
    assert [i.indicator_code for i in items if isinstance(i, RawObservation)] == ["T0201"]
    (problem,) = [i for i in items if isinstance(i, ReadProblem)]
    assert problem.ref.row == 3 and "unterminated quote" in problem.reason and "line 3" in problem.reason
    assert "lines 3-4 are not read" in problem.reason

    grid = tmp_path / "grid.csv"
    grid.write_text('Mã,Số liệu\r\nT0201,5\r\nT0301,"7\r\nT0302,9\r\n', encoding="utf-8")
    found = read(grid, spec(), adapter="csv")
    assert values(found) == [("T0201", "5")]
    assert any("unterminated quote" in p and "line 3" in p for p in problems(found))


def test_numbers_as_text_are_read_in_the_declared_format_only(tmp_path: Path) -> None:
    path = tmp_path / "numbers.csv"
    path.write_text("Mã;Số liệu\nT1;1.234,5\nT2;1.234\nT3;12,5\nT4;1234.5\nT5;1,234.5\n", encoding="utf-8")
    vietnamese = read(path, spec(numbers={"text_format": "vietnamese"}), adapter="csv")
    assert values(vietnamese) == [("T1", "1234.5"), ("T2", "1234"), ("T3", "12.5")]
    assert [p.split(" is not")[0] for p in problems(vietnamese)] == ["value '1234.5'", "value '1,234.5'"]
    plain = read(path, spec(), adapter="csv")
    assert values(plain) == [("T2", "1.234"), ("T4", "1234.5")]  # never guessed per cell
    assert len(problems(plain)) == 3


def test_a_changed_template_is_not_read_half_right(tmp_path: Path) -> None:
    path = tmp_path / "changed.csv"
    path.write_text("Mã,Thực hiện\nT0201,5\n", encoding="utf-8")
    items = read(path, spec(), adapter="csv")
    assert values(items) == []
    assert "no header in the header rows matches '^Số liệu$'" in problems(items)[0]


def test_a_subtotal_is_checked_and_never_sent(tmp_path: Path) -> None:
    path = tmp_path / "totals.csv"
    path.write_text(
        "STT,Mã,Tên,Số liệu\nI.,,Kinh tế,\n,,Tổng số,13\n1,T1,A,5\n2,T2,B,7\nII.,,Xã hội,\n,,Tổng số,4\n3,T3,C,4\n",
        encoding="utf-8",
    )
    layout = spec(
        columns={"code": {"column": "B"}, "name": {"column": "C"}, "row_number": {"column": "A"}},
        subtotals=[{"marker": "^Tổng số$", "field": "name", "children": "following"}],
    )
    items = read(path, layout, adapter="csv")
    assert values(items) == [("T1", "5"), ("T2", "7"), ("T3", "4")]
    (problem,) = problems(items)
    assert "says 13, but its 2 rows (rows 4-5) sum to 12" in problem


def test_a_damaged_number_cell_is_a_problem_in_both_readers(tmp_path: Path) -> None:
    """Found by mutating a corpus workbook: a number cell whose text is not a number ('1>10.54')
    escaped both readers as a ValueError from float()."""
    from adapters.grid import GridCell
    from adapters.xlsx_templates import _value

    path = with_sheet(tmp_path / "damaged.xlsx", data_row(2, value="1&gt;10.54") + data_row(3, value="7"))
    items = read(path, spec())
    assert values(items) == [("T0201", "7")]
    assert problems(items) == ["value '1>10.54' is not a number"]
    # the built-in reader passes it on as read: the mapping quarantines it ("not a number")
    assert _value(GridCell("1>10.54", numeric=True)) == "1>10.54"
