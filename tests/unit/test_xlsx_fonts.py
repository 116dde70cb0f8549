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
    # openpyxl writes no cached value for a formula it wrote: not a value, and not a blank either (it
    # read as one, as if the commune had not reported): a problem naming the formula and what to do.
    assert "T0401" not in by_code
    (formula,) = [i for i in items if isinstance(i, ReadProblem) and i.ref.row == 12]
    assert formula.reason.startswith("formula =100+8.5 has no saved result") and formula.ref.column == "E"


def test_unicode_text_in_a_cell_that_keeps_a_legacy_font_is_kept(tmp_path: Path) -> None:
    """Found from outside: a cell typed in Unicode whose font is still ``.VnTime`` (a template whose
    fonts were never changed) read as "Diện tớch gieo trồng lỳa": decoded twice. A text holding
    letters no legacy byte shows as (ệ, ồ) is Unicode already."""
    path = workbook(
        tmp_path / "unicode-in-vntime.xlsx",
        [
            ("T0201", "Diện tích gieo trồng lúa", "người", ".VnTime", 1),
            ("T0203", "Mật độ dân số", "người/km2", "VNI-Times", 2),
            ("T0301", encode_legacy("Số hộ nghèo", "tcvn3"), encode_legacy("người", "tcvn3"), ".VnTime", 3),
        ],
    )
    by_code = {o.indicator_code: o for o in XlsxTemplateReader(path).read() if isinstance(o, RawObservation)}
    assert by_code["T0201"].indicator_name == "Diện tích gieo trồng lúa" and by_code["T0201"].unit == "người"
    assert by_code["T0203"].indicator_name == "Mật độ dân số" and by_code["T0203"].unit == "người/km2"
    assert by_code["T0301"].indicator_name == "Số hộ nghèo"  # real TCVN3 in the same sheet is still decoded


def test_unsure_legacy_text_is_quarantined_not_guessed(tmp_path: Path) -> None:
    path = workbook(tmp_path / "unsure.xlsx", [("T0201", "q¹x ÷z", "người", None, 1)])
    problems = [i for i in XlsxTemplateReader(path).read() if isinstance(i, ReadProblem)]
    assert len(problems) == 1 and "cannot tell the encoding" in problems[0].reason
    assert problems[0].ref.row == 8


def test_merged_label_cells_and_period_columns(tmp_path: Path) -> None:
    from adapters.xlsx_templates import XlsxTemplateLayout

    wb = Workbook()
    ws = wb.active
    ws.title = "Lao Cai"
    ws.cell(7, 5, "2026-THANG-9")
    ws.cell(7, 6, "2026-THANG-10")
    ws.cell(7, 7, "tháng trước")
    ws.cell(8, 2, "T0201")
    ws.cell(8, 3, "Dân số trung bình")
    ws.merge_cells("C8:C9")  # one label for two rows
    ws.cell(8, 4, "người")
    ws.merge_cells("D8:D9")
    ws.cell(9, 2, "T0203")
    ws.cell(8, 5, 8500)
    ws.cell(8, 6, 8512)
    ws.cell(9, 5, 95)
    ws.merge_cells("E9:F9")  # a value spread over two periods: ambiguous
    path = tmp_path / "periods.xlsx"
    wb.save(path)
    items = list(XlsxTemplateReader(path, XlsxTemplateLayout(columns="period", admin_unit="15")).read())
    observations = [i for i in items if isinstance(i, RawObservation)]
    assert [(o.indicator_code, o.period.key, o.value) for o in observations] == [  # exact decimal text
        ("T0201", "2026-THANG-9", "8500"),
        ("T0201", "2026-THANG-10", "8512"),
        ("T0203", "2026-THANG-9", "95"),
    ]
    assert observations[2].unit == "người" and observations[2].indicator_name == "Dân số trung bình"  # merged labels
    problems = [i.reason for i in items if isinstance(i, ReadProblem)]
    assert any("merged with E9" in p for p in problems)
    assert any("'tháng trước' is not a period key" in p for p in problems)


def test_rich_text_runs_in_legacy_fonts_are_decoded_run_by_run(tmp_path: Path) -> None:
    from openpyxl.cell.rich_text import CellRichText, TextBlock
    from openpyxl.cell.text import InlineFont

    wb = Workbook()
    ws = wb.active
    ws.title = "T10-2026"
    ws.cell(7, 5, "02647")
    ws.cell(8, 2, "T0201")
    ws.cell(8, 3).value = CellRichText(
        TextBlock(InlineFont(rFont="Times New Roman"), "Chỉ tiêu: "),
        TextBlock(InlineFont(rFont=".VnTime"), encode_legacy("dân số trung bình", "tcvn3")),
    )
    ws.cell(8, 4, "người")
    ws.cell(8, 5, 8512)
    path = tmp_path / "rich.xlsx"
    wb.save(path)
    (observation,) = [i for i in XlsxTemplateReader(path).read() if isinstance(i, RawObservation)]
    assert observation.indicator_name == "Chỉ tiêu: dân số trung bình"


def test_formulas_are_read_as_their_cached_values(tmp_path: Path) -> None:
    """Excel stores a formula with its last computed value; the reader takes the value, never the formula."""
    import re
    import zipfile

    path = workbook(tmp_path / "formula.xlsx", [("T0401", "Chỉ số sản xuất công nghiệp", "%", None, "=100+8.5")])
    patched = tmp_path / "cached.xlsx"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(patched, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":  # what Excel writes after computing the formula
                data = re.sub(
                    rb"<f>100\+8\.5</f><v\s*/>|<f>100\+8\.5</f><v></v>|<f>100\+8\.5</f>",
                    b"<f>100+8.5</f><v>108.5</v>",
                    data,
                )
            dst.writestr(item, data)
    (observation,) = [i for i in XlsxTemplateReader(patched).read() if isinstance(i, RawObservation)]
    assert observation.value == "108.5"
