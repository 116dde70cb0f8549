"""A number formatted as a percentage is read as the number shown (0.125 stored, "12.5%" seen, 12.5
read): reading the stored fraction made every rate a hundred times too small, silently (found by an
outside test). The workbooks are written by openpyxl, not by our own generator."""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook

from adapters.base import RawObservation
from adapters.grid import _is_percent_format
from adapters.xlsx_templates import XlsxTemplateReader


def _book(path: Path, cells: list[tuple[str, float, str]]) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = "T10-2026"
    ws.cell(7, 5, "02647")
    for r, (code, value, number_format) in enumerate(cells, start=8):
        ws.cell(r, 2, code)
        ws.cell(r, 3, "Tỷ lệ")
        ws.cell(r, 4, "%")
        cell = ws.cell(r, 5, value)
        cell.number_format = number_format
    wb.save(path)
    return path


def test_percent_formatted_cells_read_as_shown(tmp_path: Path) -> None:
    path = _book(
        tmp_path / "rates.xlsx",
        [
            ("T1", 0.125, "0.0%"),  # a custom format (openpyxl writes it under numFmts)
            ("T2", 0.97, "0%"),  # built-in format 9
            ("T3", 1.0345, "0.00%"),  # built-in format 10
            ("T4", 0.1234567890123456, "0.000%"),  # Excel's 15 significant digits, then shown x100
            ("T5", 97.5, "0.0"),  # a plain number in a "%" row: already the percentage
            ("T6", 12.5, '0.0" %"'),  # a quoted "%" is text after the number, not a percentage
            ("T7", -0.005, "0.0%;[Red]-0.0%"),
        ],
    )
    values = {i.indicator_code: i.value for i in XlsxTemplateReader(path).read() if isinstance(i, RawObservation)}
    assert values == {
        "T1": "12.5",
        "T2": "97",
        "T3": "103.45",
        "T4": "12.3456789012346",
        "T5": "97.5",
        "T6": "12.5",
        "T7": "-0.5",
    }


def test_percent_format_codes() -> None:
    assert _is_percent_format("0.0%") and _is_percent_format("#,##0.00%;-#,##0.00%")
    assert _is_percent_format("[Red]0%")
    assert not _is_percent_format('0.0" %"') and not _is_percent_format("0.0\\%")
    assert not _is_percent_format("#,##0") and not _is_percent_format("General")
    assert not _is_percent_format('0;"%"')  # only the first section's number is scaled by a % there
