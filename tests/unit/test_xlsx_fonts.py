"""XLSX legacy text: decoded by the cell's font (TCVN3 `.Vn*`, capitals `.Vn*H`, VNI `VNI-*`), by
content without one, and quarantined (not guessed) when unsure; formulas read as cached values."""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font

from adapters.base import RawObservation, ReadProblem
from adapters.legacy_text import encode_legacy
from adapters.xlsx_templates import XlsxTemplateReader


def workbook(path: Path, rows: list[tuple[str, str, str, str | None, object]]) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = "T10-2026"
    ws.cell(7, 5, "02647")
    for r, (code, name, unit, font, value) in enumerate(rows, start=8):
        ws.cell(r, 2, code)
        name_cell, unit_cell = ws.cell(r, 3, name), ws.cell(r, 4, unit)
        if font:
            name_cell.font = unit_cell.font = Font(name=font)
        ws.cell(r, 5, value)
    wb.save(path)
    return path


def test_text_is_decoded_by_cell_font_and_by_content(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "fonts.xlsx",
        [
            ("T0201", encode_legacy("Dân số trung bình", "tcvn3"), encode_legacy("người", "tcvn3"), ".VnTime", 8512),
            ("T0203", encode_legacy("mật độ dân số", "tcvn3"), "người/km2", ".VnTimeH", 95.5),
            (
                "T0301",
                encode_legacy("Số lao động được tạo việc làm", "vni"),
                encode_legacy("người", "vni"),
                "VNI-Times",
                40,
            ),
            ("T0302", encode_legacy("số người được đào tạo nghề trong tháng báo cáo", "tcvn3"), "người", None, 25),
            ("T0401", "Chỉ số sản xuất công nghiệp", "%", "Times New Roman", "=100+8.5"),
        ],
    )
    items = list(XlsxTemplateReader(path).read())
    observations = [i for i in items if isinstance(i, RawObservation)]
    by_code = {o.indicator_code: o for o in observations}
    assert by_code["T0201"].indicator_name == "Dân số trung bình" and by_code["T0201"].unit == "người"
    assert by_code["T0203"].indicator_name == "MẬT ĐỘ DÂN SỐ"  # the capitals font
    assert by_code["T0301"].indicator_name == "Số lao động được tạo việc làm"
    assert by_code["T0302"].indicator_name == "số người được đào tạo nghề trong tháng báo cáo"  # by content
    # openpyxl writes no cached value for a formula it wrote: the cell reads as blank, not as the formula text.
    assert "T0401" not in by_code


def test_unsure_legacy_text_is_quarantined_not_guessed(tmp_path: Path) -> None:
    path = workbook(tmp_path / "unsure.xlsx", [("T0201", "q¹x ÷z", "người", None, 1)])
    problems = [i for i in XlsxTemplateReader(path).read() if isinstance(i, ReadProblem)]
    assert len(problems) == 1 and "cannot tell the encoding" in problems[0].reason
    assert problems[0].ref.row == 8
