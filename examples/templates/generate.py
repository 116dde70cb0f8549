"""Generate the template corpus: report templates in the shapes provinces really send, each with its
layout (``*.yaml``) and the observations it holds (``*.expected.json``).

    python examples/templates/generate.py

Every workbook is written here by openpyxl as Excel and LibreOffice write them (merged title and
header cells, borders, fills, number formats, column widths, frozen panes, legacy fonts, rich text
runs in mixed fonts, strings in ``xl/sharedStrings.xml``), never edited by hand, and byte for byte
reproducible (the test regenerates and compares). The expected observations are written from the
same source figures (``figure()``) by this script, not by running the reader: the test
(tests/e2e/test_template_corpus.py) reads each workbook through ``gateway ingest --dry-run`` with
its layout and with the layout ``gateway template infer`` proposes, and compares with them exactly.

Shapes: Biểu 01 with TCVN3 ``.VnTime``/``.VnTimeH`` text and a VNI note; communes across columns;
one sheet per month; a quarterly form with plan, actual, cumulative and % columns; two merged header
rows; a subtotal row per section; Unicode text with numbers as Vietnamese-format text; a CSV export.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import sys
import zipfile
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from openpyxl import Workbook
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from adapters.legacy_text import encode_legacy  # noqa: E402

HERE = Path(__file__).resolve().parent

# code, name (Unicode, as the expected output shows it), unit of measure
INDICATORS: list[tuple[str, str, str]] = [
    ("T0201", "Dân số trung bình", "người"),
    ("T0301", "Số lao động được tạo việc làm mới", "người"),
    ("T0401", "Chỉ số sản xuất công nghiệp so với cùng kỳ", "%"),
    ("T0501", "Tổng mức bán lẻ hàng hóa và doanh thu dịch vụ tiêu dùng", "triệu đồng"),
    ("T0502", "Doanh thu dịch vụ lưu trú và ăn uống", "triệu đồng"),
    ("T0601", "Vốn đầu tư thực hiện từ nguồn ngân sách nhà nước", "triệu đồng"),
    ("T1001", "Diện tích gieo trồng lúa", "ha"),
    ("T1002", "Sản lượng lương thực có hạt", "tấn"),
    ("T1101", "Số lượt khách du lịch", "lượt người"),
    ("T1201", "Số hộ nghèo", "hộ"),
]
NAMES = {code: name for code, name, _ in INDICATORS}
UNITS = {code: unit for code, _, unit in INDICATORS}
COMMUNES = [("02647", "Xã Bản Hồ"), ("02650", "Xã Tả Van"), ("02653", "Phường Sa Pa"), ("02659", "Xã Mường Bo")]


def figure(*key: str) -> Decimal:
    """A source figure, deterministic: one decimal for most, whole for counts, near 100 for %."""
    h = int(hashlib.sha256("|".join(key).encode()).hexdigest()[:10], 16)
    code, column = key[0], key[1]
    if UNITS.get(code) == "%" or column in ("CK", "LKCK", "TLKH"):
        return Decimal(9000 + h % 2500) / 100  # 90.00 .. 114.99
    if UNITS.get(code) in ("người", "hộ", "lượt người"):
        return Decimal(200 + h % 90000)
    return Decimal(1000 + h % 9_000_000) / 10


def plain(d: Decimal) -> str:
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def vn(d: Decimal) -> str:
    """Vietnamese number format: dots group thousands, a comma before the decimals (1.234,5)."""
    whole, _, frac = plain(d).partition(".")
    groups = f"{int(whole):,}".replace(",", ".")
    return groups + ("," + frac if frac else "")


def cell_value(d: Decimal) -> int | float:
    return int(d) if d == d.to_integral_value() else float(d)


THIN = Side(style="thin", color="000000")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
HEAD_FILL = PatternFill("solid", fgColor="D9E1F2")


def new_book() -> Workbook:
    wb = Workbook()
    wb.remove(wb.active)
    wb.properties.creator = "Sở Kế hoạch và Đầu tư"
    wb.properties.created = wb.properties.modified = datetime(2026, 11, 2, 8, 0, 0)
    return wb


def title(ws: Worksheet, row: int, text: str, last_col: int, font: Font) -> None:
    ws.cell(row, 1, text).font = font
    ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=last_col)
    ws.cell(row, 1).alignment = Alignment(horizontal="center", vertical="center")


def header(ws: Worksheet, row: int, col: int, text: str, font: Font, *, span: tuple[int, int] = (1, 1)) -> None:
    cell = ws.cell(row, col, text)
    cell.font, cell.fill, cell.border = font, HEAD_FILL, BOX
    cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    rows, cols = span
    if rows > 1 or cols > 1:
        ws.merge_cells(start_row=row, start_column=col, end_row=row + rows - 1, end_column=col + cols - 1)
        for r in range(row, row + rows):
            for c in range(col, col + cols):
                ws.cell(r, c).border = BOX


def boxed(ws: Worksheet, row: int, col: int, value: object, font: Font, number_format: str | None = None) -> None:
    cell = ws.cell(row, col, value)
    cell.font, cell.border = font, BOX
    if number_format:
        cell.number_format = number_format


def widths(ws: Worksheet, **columns: float) -> None:
    for letter, width in columns.items():
        ws.column_dimensions[letter].width = width


class Expected:
    def __init__(self, location_prefix: str) -> None:
        self.prefix = location_prefix
        self.observations: list[dict[str, Any]] = []
        self.problems: list[dict[str, str]] = []

    def value(
        self,
        where: str,
        code: str,
        column: str | None,
        period: str,
        value: Decimal,
        *,
        unit_code: str | None = None,
        name: str | None = None,
        unit: str | None = None,
    ) -> None:
        self.observations.append(
            {
                "indicator": code,
                "name": NAMES[code] if name is None else name,
                "unit": UNITS[code] if unit is None else unit,
                "column": column,
                "period": period,
                "unit_code": unit_code,
                "value": plain(value),
                "location": self.prefix + where,
            }
        )

    def problem(self, where: str, says: str) -> None:
        self.problems.append({"location": self.prefix + where, "reason_contains": says})


# ---- 1. Biểu 01 as the issue found it: TCVN3 .VnTime text, a .VnTimeH heading, a VNI note --------
def bieu01(path: Path) -> tuple[dict[str, Any], Expected]:
    wb = new_book()
    ws = wb.create_sheet("Biểu 01")
    vntime, vntimeh = Font(name=".VnTime", size=12), Font(name=".VnTimeH", size=12, bold=True)
    vni = Font(name="VNI-Times", size=11, italic=True)
    title(ws, 1, encode_legacy("ủy ban nhân dân tỉnh lào cai", "tcvn3"), 7, vntimeh)
    title(ws, 2, encode_legacy("báo cáo tình hình kinh tế - xã hội", "tcvn3"), 7, vntimeh)
    title(ws, 3, "", 7, Font(name="Times New Roman", size=12, italic=True))
    ws.cell(3, 1).value = CellRichText(  # mixed fonts in one cell, as Excel keeps them: run by run
        TextBlock(InlineFont(rFont="Times New Roman", i=True), "Kỳ báo cáo: "),
        TextBlock(InlineFont(rFont=".VnTime", i=True), encode_legacy("tháng 10/2026", "tcvn3")),
    )
    head = Font(name=".VnTime", size=11, bold=True)
    for col, text in enumerate(["STT", "Mã số", "Chỉ tiêu", "Đơn vị tính"], start=1):
        header(ws, 5, col, encode_legacy(text, "tcvn3"), head, span=(2, 1))
    header(ws, 5, 5, encode_legacy("Thực hiện", "tcvn3"), head, span=(1, 2))
    header(ws, 6, 5, encode_legacy("Tháng 10", "tcvn3"), head)
    header(ws, 6, 6, encode_legacy("Lũy kế từ đầu năm", "tcvn3"), head)
    header(ws, 5, 7, encode_legacy("So cùng kỳ (%)", "tcvn3"), head, span=(2, 1))
    exp = Expected("Biểu 01!")
    period = "2026-THANG-10"
    sections: list[tuple[str, str, list[str]]] = [
        ("I", "Dân số, lao động", ["T0201", "T0301"]),
        ("II", "Thương mại, dịch vụ", ["T0501", "T0502"]),  # with a subtotal row first
        ("III", "Đầu tư, sản xuất", ["T0401", "T0601", "T1001"]),
    ]
    r = 7
    stt = 0
    for roman_no, heading, codes in sections:
        boxed(ws, r, 1, roman_no + ".", Font(name="Times New Roman", bold=True))
        boxed(ws, r, 3, encode_legacy(heading.upper(), "tcvn3"), vntimeh)
        r += 1
        if roman_no == "II":
            boxed(ws, r, 3, encode_legacy("Tổng số", "tcvn3"), Font(name=".VnTime", bold=True))
            for col, column in ((5, "TH"), (6, "LK")):
                total = sum(figure(c, column, period) for c in codes)
                boxed(ws, r, col, cell_value(total), Font(name="Times New Roman", bold=True), "#,##0.0")
            r += 1
        for code in codes:
            stt += 1
            boxed(ws, r, 1, stt, Font(name="Times New Roman"))
            boxed(ws, r, 2, code, Font(name="Times New Roman"))
            boxed(ws, r, 3, encode_legacy(NAMES[code], "tcvn3"), vntime)
            unit_font = vni if code == "T0201" else vntime  # one unit typed under VNI-Times
            boxed(ws, r, 4, encode_legacy(UNITS[code], "vni" if code == "T0201" else "tcvn3"), unit_font)
            for col, column in ((5, "TH"), (6, "LK"), (7, "CK")):
                letter = get_column_letter(col)
                if code == "T0601" and column == "LK":
                    boxed(ws, r, col, encode_legacy("chưa có số liệu", "tcvn3"), vntime)
                    exp.problem(f"{letter}{r}", "value 'chưa có số liệu' is not a number")
                    continue
                value = figure(code, column, period)
                boxed(ws, r, col, cell_value(value), Font(name="Times New Roman"), "#,##0.0")
                exp.value(f"{letter}{r}", code, column, period, value)
            r += 1
        r += 1  # a blank separator row
    note = "Ghi chú: số liệu tháng 10 là số ước tính; lũy kế tính từ tháng 1."
    ws.cell(r + 1, 1, encode_legacy(note, "vni")).font = vni
    ws.merge_cells(start_row=r + 1, start_column=1, end_row=r + 1, end_column=7)
    ws.cell(r + 3, 6, encode_legacy("Người lập biểu", "tcvn3")).font = Font(name=".VnTime", bold=True)
    widths(ws, A=6, B=9, C=48, D=12, E=14, F=14, G=12)
    ws.freeze_panes = "E7"
    wb.save(path)
    layout = {
        "name": "bieu01-ktxh",
        "description": "Biểu 01/KTXH hằng tháng: TH tháng, lũy kế, so cùng kỳ; chữ TCVN3",
        "sheets": {"names": ["Biểu 01"]},
        "header_rows": [5, 6],
        "columns": {
            "code": {"column": "B"},
            "name": {"column": "C"},
            "unit": {"column": "D"},
            "row_number": {"column": "A"},
        },
        "values": [
            {"header": r"^Thực hiện \| Tháng \d+$", "code": "TH"},
            {"header": r"lũy kế", "code": "LK"},
            {"header": r"^So cùng kỳ", "code": "CK"},
        ],
        "period": {"type": "THANG", "source": "title", "pattern": r"tháng\s+(?P<number>\d{1,2})\s*/\s*(?P<year>\d{4})"},
        "subtotals": [{"marker": r"^Tổng số", "field": "name", "children": "following"}],
    }
    return layout, exp


# ---- 2. communes across the columns, their codes in a header row --------------------------------
def communes(path: Path) -> tuple[dict[str, Any], Expected]:
    wb = new_book()
    ws = wb.create_sheet("Theo xã")
    times = Font(name="Times New Roman", size=11)
    bold = Font(name="Times New Roman", size=11, bold=True)
    last = 5 + len(COMMUNES)
    title(ws, 1, "MỘT SỐ CHỈ TIÊU CHỦ YẾU THEO XÃ, PHƯỜNG", last, Font(name="Times New Roman", size=13, bold=True))
    title(ws, 2, "Kỳ báo cáo: tháng 9/2026", last, Font(name="Times New Roman", italic=True))
    for col, text in enumerate(["STT", "Mã chỉ tiêu", "Tên chỉ tiêu", "ĐVT", "Toàn tỉnh"], start=1):
        header(ws, 4, col, text, bold, span=(2, 1))
    for j, (code, name) in enumerate(COMMUNES):
        header(ws, 4, 6 + j, name, bold)
        header(ws, 5, 6 + j, code, bold)
    exp = Expected("Theo xã!")
    period = "2026-THANG-9"
    for i, code in enumerate(["T0201", "T0301", "T1001", "T1201"], start=1):
        r = 5 + i
        boxed(ws, r, 1, i, times)
        boxed(ws, r, 2, code, times)
        boxed(ws, r, 3, NAMES[code], times)
        boxed(ws, r, 4, UNITS[code], times)
        total = Decimal(0)
        for j, (commune, _) in enumerate(COMMUNES):
            letter = get_column_letter(6 + j)
            if code == "T1001" and commune == "02653":
                continue  # a ward without rice fields: a blank cell
            value = figure(code, "TH", period, commune)
            total += value
            boxed(ws, r, 6 + j, cell_value(value), times, "#,##0.0")
            exp.value(f"{letter}{r}", code, "TH", period, value, unit_code=commune)
        boxed(ws, r, 5, cell_value(total), bold, "#,##0.0")
    widths(ws, A=5, B=11, C=40, D=10, E=12, F=12, G=12, H=12, I=12)
    ws.freeze_panes = "F6"
    wb.save(path)
    layout = {
        "name": "theo-xa",
        "description": "Chỉ tiêu theo xã: mã xã ở dòng 5, mỗi xã một cột",
        "header_rows": [4, 5],
        "columns": {
            "code": {"column": "B"},
            "name": {"column": "C"},
            "unit": {"column": "D"},
            "row_number": {"column": "A"},
        },
        "values": [{"header": r"^\d{5}$", "row": 5, "code": "TH"}],
        "period": {"type": "THANG", "source": "title", "pattern": r"tháng\s+(?P<number>\d{1,2})\s*/\s*(?P<year>\d{4})"},
        "reporting_unit": {"source": "header_row", "row": 5, "pattern": r"^(?P<code>\d{5})$"},
    }
    return layout, exp


# ---- 3. one sheet per month, and an instructions sheet ------------------------------------------
def monthly_sheets(path: Path) -> tuple[dict[str, Any], Expected]:
    wb = new_book()
    guide = wb.create_sheet("Hướng dẫn")
    guide.cell(1, 1, "Mỗi tháng một trang tính, đặt tên T<tháng>-<năm>; không sửa mã chỉ tiêu.")
    times = Font(name="Times New Roman", size=11)
    bold = Font(name="Times New Roman", size=11, bold=True)
    exp = Expected("")
    for month in (8, 9, 10):
        ws = wb.create_sheet(f"T{month}-2026")
        title(ws, 1, f"SỐ LIỆU THÁNG {month} NĂM 2026", 5, Font(name="Times New Roman", size=13, bold=True))
        for col, text in enumerate(["STT", "Mã chỉ tiêu", "Tên chỉ tiêu", "Đơn vị tính", "Số liệu"], start=1):
            header(ws, 3, col, text, bold)
        period = f"2026-THANG-{month}"
        for i, code in enumerate(["T0201", "T0501", "T1002", "T1101"], start=1):
            r = 3 + i
            boxed(ws, r, 1, i, times)
            boxed(ws, r, 2, code, times)
            boxed(ws, r, 3, NAMES[code], times)
            boxed(ws, r, 4, UNITS[code], times)
            value = figure(code, "TH", period)
            boxed(ws, r, 5, cell_value(value), times, "#,##0.0")
            exp.value(f"T{month}-2026!E{r}", code, "TH", period, value)
        widths(ws, A=5, B=12, C=44, D=12, E=14)
    wb.save(path)
    layout = {
        "name": "thang-moi-trang",
        "description": "Mỗi tháng một trang tính T<tháng>-<năm>",
        "sheets": {"pattern": r"^T\d{1,2}-\d{4}$"},
        "header_rows": [3],
        "columns": {
            "code": {"column": "B"},
            "name": {"column": "C"},
            "unit": {"column": "D"},
            "row_number": {"column": "A"},
        },
        "values": [{"header": r"^Số liệu$", "code": "TH"}],
        "period": {"type": "THANG", "source": "sheet_name", "pattern": r"^T(?P<number>\d{1,2})-(?P<year>\d{4})$"},
    }
    return layout, exp


# ---- 4. a quarterly form: plan, actual, cumulative, % of plan; a row of column numbers; units by row
def quarterly(path: Path) -> tuple[dict[str, Any], Expected]:
    wb = new_book()
    ws = wb.create_sheet("Quý")
    times = Font(name="Times New Roman", size=11)
    bold = Font(name="Times New Roman", size=11, bold=True)
    title(ws, 1, "BÁO CÁO THỰC HIỆN KẾ HOẠCH", 9, Font(name="Times New Roman", size=13, bold=True))
    title(ws, 2, "Quý III năm 2026", 9, Font(name="Times New Roman", italic=True))
    heads = [
        "STT",
        "Mã chỉ tiêu",
        "Tên chỉ tiêu",
        "Đơn vị tính",
        "Mã đơn vị",
        "Kế hoạch năm 2026",
        "Thực hiện quý III",
        "Lũy kế 9 tháng",
        "% so với kế hoạch năm",
    ]
    for col, text in enumerate(heads, start=1):
        header(ws, 4, col, text, bold)
    for col, text in enumerate(["A", "B", "C", "D", "E", "1", "2", "3", "4=3/1"], start=1):
        header(ws, 5, col, text, Font(name="Times New Roman", size=9, italic=True))
    exp = Expected("Quý!")
    period = "2026-QUY-3"
    r = 5
    for code in ["T0501", "T0601", "T1002"]:
        for commune, _ in COMMUNES[:2]:
            r += 1
            boxed(ws, r, 1, r - 5, times)
            boxed(ws, r, 2, code, times)
            boxed(ws, r, 3, NAMES[code], times)
            boxed(ws, r, 4, UNITS[code], times)
            boxed(ws, r, 5, commune, times)
            for col, column in ((6, "KH"), (7, "TH"), (8, "LK"), (9, "TLKH")):
                value = figure(code, column, period, commune)
                boxed(ws, r, col, cell_value(value), times, "#,##0.00")
                exp.value(f"{get_column_letter(col)}{r}", code, column, period, value, unit_code=commune)
    widths(ws, A=5, B=11, C=44, D=11, E=10, F=14, G=14, H=14, I=12)
    wb.save(path)
    layout = {
        "name": "quy-ke-hoach",
        "description": "Biểu quý: kế hoạch năm, thực hiện quý, lũy kế, % kế hoạch; mã đơn vị theo dòng",
        "header_rows": [4],
        "skip": {"rows": [5]},
        "columns": {
            "code": {"column": "B"},
            "name": {"column": "C"},
            "unit": {"column": "D"},
            "row_number": {"column": "A"},
        },
        "values": [
            {"header": r"^Kế hoạch năm", "code": "KH"},
            {"header": r"^Thực hiện quý", "code": "TH"},
            {"header": r"^Lũy kế", "code": "LK"},
            {"header": r"so với kế hoạch", "code": "TLKH"},
        ],
        "period": {
            "type": "QUY",
            "source": "title",
            "pattern": r"quý\s+(?P<number>[IV]+|\d)\s*(?:/|năm)\s*(?P<year>\d{4})",
        },
        "reporting_unit": {"source": "column", "column": "E"},
    }
    return layout, exp


# ---- 5. two merged header rows; the period is given at ingest (--period) --------------------------
def two_headers(path: Path) -> tuple[dict[str, Any], Expected]:
    wb = new_book()
    ws = wb.create_sheet("Sheet1")
    times = Font(name="Arial", size=10)
    bold = Font(name="Arial", size=10, bold=True)
    title(ws, 1, "TÌNH HÌNH THỰC HIỆN MỘT SỐ CHỈ TIÊU", 8, Font(name="Arial", size=12, bold=True))
    for col, text in enumerate(["STT", "Mã", "Chỉ tiêu", "Đơn vị tính"], start=1):
        header(ws, 3, col, text, bold, span=(2, 1))
    header(ws, 3, 5, "Thực hiện", bold, span=(1, 2))
    header(ws, 4, 5, "Tháng này", bold)
    header(ws, 4, 6, "Lũy kế", bold)
    header(ws, 3, 7, "So cùng kỳ (%)", bold, span=(1, 2))
    header(ws, 4, 7, "Tháng này", bold)
    header(ws, 4, 8, "Lũy kế", bold)
    exp = Expected("Sheet1!")
    period = "2026-THANG-10"
    for i, code in enumerate(["T0201", "T0401", "T0502", "T1201"], start=1):
        r = 4 + i
        boxed(ws, r, 1, i, times)
        boxed(ws, r, 2, code, times)
        boxed(ws, r, 3, NAMES[code], times)
        boxed(ws, r, 4, UNITS[code], times)
        for col, column in ((5, "TH"), (6, "LK"), (7, "CK"), (8, "LKCK")):
            value = figure(code, column, period)
            boxed(ws, r, col, cell_value(value), times, "#,##0.00")
            exp.value(f"{get_column_letter(col)}{r}", code, column, period, value)
    widths(ws, A=5, B=9, C=44, D=12, E=12, F=12, G=12, H=12)
    wb.save(path)
    layout = {
        "name": "hai-dong-tieu-de",
        "description": "Hai dòng tiêu đề gộp ô: thực hiện / so cùng kỳ, mỗi nhóm tháng này và lũy kế",
        "header_rows": [3, 4],
        "columns": {
            "code": {"column": "B"},
            "name": {"column": "C"},
            "unit": {"column": "D"},
            "row_number": {"column": "A"},
        },
        "values": [
            {"header": r"^Thực hiện \| Tháng này$", "code": "TH"},
            {"header": r"^Thực hiện \| Lũy kế$", "code": "LK"},
            {"header": r"^So cùng kỳ \(%\) \| Tháng này$", "code": "CK"},
            {"header": r"^So cùng kỳ \(%\) \| Lũy kế$", "code": "LKCK"},
        ],
        "period": {"type": "THANG", "source": "option"},
    }
    return layout, exp


# ---- 6. a subtotal row closing each section; one that does not add up ----------------------------
def subtotals(path: Path) -> tuple[dict[str, Any], Expected]:
    wb = new_book()
    ws = wb.create_sheet("Biểu 02")
    times = Font(name="Times New Roman", size=11)
    bold = Font(name="Times New Roman", size=11, bold=True)
    title(ws, 1, "SẢN XUẤT NÔNG NGHIỆP VÀ THU NGÂN SÁCH", 6, Font(name="Times New Roman", size=13, bold=True))
    title(ws, 2, "Tháng 9 năm 2026", 6, Font(name="Times New Roman", italic=True))
    for col, text in enumerate(["STT", "Mã chỉ tiêu", "Tên chỉ tiêu", "Đơn vị tính", "Thực hiện tháng", "Lũy kế"], 1):
        header(ws, 4, col, text, bold)
    exp = Expected("Biểu 02!")
    period = "2026-THANG-9"
    sections = [("A", "Nông nghiệp", ["T1001", "T1002"], False), ("B", "Thương mại", ["T0501", "T0502"], True)]
    r = 4
    for letter, heading, codes, wrong in sections:
        r += 1
        boxed(ws, r, 1, letter, bold)
        boxed(ws, r, 3, heading, bold)
        first = r + 1
        for i, code in enumerate(codes, start=1):
            r += 1
            boxed(ws, r, 1, i, times)
            boxed(ws, r, 2, code, times)
            boxed(ws, r, 3, NAMES[code], times)
            boxed(ws, r, 4, "triệu đồng" if code.startswith("T05") else UNITS[code], times)
            for col, column in ((5, "TH"), (6, "LK")):
                value = figure(code, column, period)
                boxed(ws, r, col, cell_value(value), times, "#,##0.0")
                exp.value(f"{get_column_letter(col)}{r}", code, column, period, value)
        r += 1
        boxed(ws, r, 3, "Cộng", bold)
        for col, column in ((5, "TH"), (6, "LK")):
            total = sum(figure(c, column, period) for c in codes)
            if wrong and column == "TH":
                total += Decimal("100")  # a subtotal typed by hand that no longer adds up
                exp.problem(f"E{r}", f"but its 2 rows (rows {first}-{r - 1}) sum to {plain(total - 100)}")
            boxed(ws, r, col, cell_value(total), bold, "#,##0.0")
    widths(ws, A=5, B=11, C=44, D=12, E=14, F=14)
    wb.save(path)
    layout = {
        "name": "cong-theo-muc",
        "description": "Mỗi mục (A., B.) kết thúc bằng dòng Cộng",
        "header_rows": [4],
        "columns": {
            "code": {"column": "B"},
            "name": {"column": "C"},
            "unit": {"column": "D"},
            "row_number": {"column": "A"},
        },
        "values": [{"header": r"^Thực hiện tháng$", "code": "TH"}, {"header": r"^Lũy kế$", "code": "LK"}],
        "period": {
            "type": "THANG",
            "source": "title",
            "pattern": r"tháng\s+(?P<number>\d{1,2})\s*(?:/|năm)\s*(?P<year>\d{4})",
        },
        "subtotals": [{"marker": r"^Cộng$", "field": "name", "children": "preceding"}],
    }
    return layout, exp


# ---- 7. Unicode text, numbers typed as Vietnamese-format text, '-' for no figure ----------------
def vietnamese_numbers(path: Path) -> tuple[dict[str, Any], Expected]:
    wb = new_book()
    ws = wb.create_sheet("Số liệu")
    times = Font(name="Times New Roman", size=12)
    bold = Font(name="Times New Roman", size=12, bold=True)
    title(ws, 1, "BÁO CÁO THỐNG KÊ THÁNG 10/2026", 5, Font(name="Times New Roman", size=13, bold=True))
    for col, text in enumerate(["Mã chỉ tiêu", "Tên chỉ tiêu", "Đơn vị tính", "Thực hiện", "Cùng kỳ năm trước"], 1):
        header(ws, 3, col, text, bold)
    exp = Expected("Số liệu!")
    period = "2026-THANG-10"
    for i, code in enumerate(["T0201", "T0501", "T0601", "T1001", "T1101"], start=1):
        r = 3 + i
        boxed(ws, r, 1, code, times)
        boxed(ws, r, 2, NAMES[code], times)
        boxed(ws, r, 3, UNITS[code], times)
        for col, column in ((4, "TH"), (5, "CKNT")):
            if code == "T1001" and column == "CKNT":
                boxed(ws, r, col, "-", times)  # no figure last year: a blank mark
                continue
            value = figure(code, column, period)
            cell = ws.cell(r, col, vn(value))  # typed as text, as pasted from a Vietnamese-locale sheet
            cell.font, cell.border, cell.number_format = times, BOX, "@"
            cell.alignment = Alignment(horizontal="right")
            exp.value(f"{get_column_letter(col)}{r}", code, column, period, value)
    widths(ws, A=12, B=44, C=12, D=16, E=18)
    wb.save(path)
    layout = {
        "name": "so-dang-chu",
        "description": "Số nhập dạng chữ theo kiểu Việt Nam (1.234,5); '-' là không có số liệu",
        "header_rows": [3],
        "columns": {"code": {"column": "A"}, "name": {"column": "B"}, "unit": {"column": "C"}},
        "values": [{"header": r"^Thực hiện$", "code": "TH"}, {"header": r"^Cùng kỳ năm trước$", "code": "CKNT"}],
        "period": {"type": "THANG", "source": "title", "pattern": r"tháng\s+(?P<number>\d{1,2})\s*/\s*(?P<year>\d{4})"},
        "skip": {"blank_marks": ["-"]},
        "numbers": {"text_format": "vietnamese"},
    }
    return layout, exp


# ---- 8. a CSV export of Biểu 01's figures, as Excel in a Vietnamese locale writes it --------------
def csv_export(path: Path) -> tuple[dict[str, Any], Expected]:
    period = "2026-THANG-10"
    rows: list[list[str]] = [
        ["BÁO CÁO TÌNH HÌNH KINH TẾ - XÃ HỘI THÁNG 10/2026", "", "", "", "", "", ""],
        ["", "", "", "", "", "", ""],
        ["STT", "Mã số", "Chỉ tiêu", "Đơn vị tính", "Thực hiện tháng 10", "Lũy kế từ đầu năm", "So cùng kỳ (%)"],
    ]
    exp = Expected(path.name + ":")
    for i, code in enumerate(["T0201", "T0301", "T0501", "T0502", "T0401", "T1001"], start=1):
        line = len(rows) + 1
        row = [str(i), code, NAMES[code], UNITS[code]]
        for column in ("TH", "LK", "CK"):
            value = figure(code, column, period)
            row.append(vn(value))
            exp.value(str(line), code, column, period, value)
        rows.append(row)
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";", lineterminator="\r\n").writerows(rows)
    path.write_bytes(buffer.getvalue().encode("utf-8-sig"))
    layout = {
        "name": "bieu01-csv",
        "description": "Biểu 01 xuất CSV (Excel, dấu chấm phẩy, số kiểu Việt Nam)",
        "header_rows": [3],
        "columns": {
            "code": {"column": "B"},
            "name": {"column": "C"},
            "unit": {"column": "D"},
            "row_number": {"column": "A"},
        },
        "values": [
            {"header": r"^Thực hiện tháng", "code": "TH"},
            {"header": r"lũy kế", "code": "LK"},
            {"header": r"^So cùng kỳ", "code": "CK"},
        ],
        "period": {"type": "THANG", "source": "title", "pattern": r"tháng\s+(?P<number>\d{1,2})\s*/\s*(?P<year>\d{4})"},
        "numbers": {"text_format": "vietnamese"},
    }
    return layout, exp


SHARED_STRINGS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
SHARED_STRINGS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"
INLINE = re.compile(rb'<c([^>]*?) t="inlineStr"><is>(.*?)</is></c>', re.DOTALL)


def excel_shaped(path: Path) -> None:
    """Rewrite an openpyxl workbook as Excel and LibreOffice save one: every string in
    ``xl/sharedStrings.xml`` (rich-text runs and their fonts included), cells pointing at it
    (``t="s"``), and fixed member dates so the file is byte-for-byte reproducible."""
    with zipfile.ZipFile(path) as zin:
        members = [(info.filename, zin.read(info.filename)) for info in zin.infolist()]
    strings: dict[bytes, int] = {}

    def shared(match: re.Match[bytes]) -> bytes:
        index = strings.setdefault(match[2], len(strings))
        return b"<c" + match[1] + b' t="s"><v>' + str(index).encode() + b"</v></c>"

    out = []
    for name, data in members:
        if name.startswith("xl/worksheets/sheet"):
            data = INLINE.sub(shared, data)
        elif name == "docProps/core.xml":  # openpyxl stamps the save time: keep the file reproducible
            data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2026-11-02T08:00:00Z", data)
        elif name == "[Content_Types].xml":
            data = data.replace(
                b"</Types>",
                f'<Override PartName="/xl/sharedStrings.xml" ContentType="{SHARED_STRINGS_TYPE}"/></Types>'.encode(),
            )
        elif name == "xl/_rels/workbook.xml.rels":
            data = data.replace(
                b"</Relationships>",
                f'<Relationship Id="rIdSst" Type="{SHARED_STRINGS_REL}" Target="sharedStrings.xml"/>'
                "</Relationships>".encode(),
            )
        out.append((name, data))
    sst = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="%d" uniqueCount="%d">'
        % (len(strings), len(strings))
        + b"".join(b"<si>" + text + b"</si>" for text in strings)
        + b"</sst>"
    )
    out.append(("xl/sharedStrings.xml", sst))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for name, data in out:
            info = zipfile.ZipInfo(name, date_time=(2026, 11, 2, 8, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(info, data)


SHAPES: dict[str, tuple[str, Callable[[Path], tuple[dict[str, Any], Expected]], dict[str, str]]] = {
    "bieu01-ktxh": ("xlsx", bieu01, {}),
    "theo-xa": ("xlsx", communes, {}),
    "thang-moi-trang": ("xlsx", monthly_sheets, {}),
    "quy-ke-hoach": ("xlsx", quarterly, {}),
    "hai-dong-tieu-de": ("xlsx", two_headers, {"period": "2026-THANG-10"}),
    "cong-theo-muc": ("xlsx", subtotals, {}),
    "so-dang-chu": ("xlsx", vietnamese_numbers, {}),
    "bieu01-csv": ("csv", csv_export, {}),
}
"""name -> (file type, builder, options given at ingest)."""


def generate(directory: Path = HERE) -> list[Path]:
    out = []
    for name, (kind, build, options) in SHAPES.items():
        source = directory / f"{name}.{kind}"
        layout, exp = build(source)
        if kind == "xlsx":
            excel_shaped(source)
        spec = directory / f"{name}.yaml"
        spec.write_text(
            f"# Layout of {source.name} (generated by examples/templates/generate.py)\n"
            + yaml.safe_dump(layout, allow_unicode=True, sort_keys=False, width=110),
            encoding="utf-8",
        )
        expected = directory / f"{name}.expected.json"
        expected.write_text(
            json.dumps(
                {
                    "source": source.name,
                    "adapter": kind,
                    "options": options,
                    "observations": exp.observations,
                    "problems": exp.problems,
                },
                ensure_ascii=False,
                indent=1,
            )
            + "\n",
            encoding="utf-8",
        )
        out += [source, spec, expected]
    return out


if __name__ == "__main__":
    for p in generate():
        print(p.relative_to(ROOT))
