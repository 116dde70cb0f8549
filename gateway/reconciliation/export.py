"""Reconciliation as CSV and as an XLSX workbook officials can open (openpyxl): a summary sheet and a
details sheet, formatted headers, frozen panes, filters, Vietnamese column titles beside the codes.

Cells hold what receivers sent, so no cell may become a formula (CSV/formula injection, OWASP): in
the workbook every string is written as a string cell (openpyxl would otherwise store ``=...`` as a
live formula), and in CSV a text beginning with ``=``, ``+``, ``-``, ``@``, tab or CR gets a leading
apostrophe, which spreadsheet programs show as text. Numbers (``-12.5``) stay numbers."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from gateway.reconciliation.report import CLASSES, Reconciliation

COLUMNS = (
    ("regime", "Chế độ báo cáo"),
    ("period", "Kỳ báo cáo"),
    ("reporting_unit", "Đơn vị báo cáo"),
    ("indicator", "Mã chỉ tiêu"),
    ("disaggregation", "Phân tổ"),
    ("destination", "Nơi nhận"),
    ("source_value", "Giá trị nguồn"),
    ("source_unit", "Đơn vị tính (nguồn)"),
    ("sent_value", "Giá trị đã gửi"),
    ("sent_unit", "Đơn vị tính (đã gửi)"),
    ("receiver_value", "Giá trị nơi nhận"),
    ("receiver_unit", "Đơn vị tính (nơi nhận)"),
    ("packet_id", "Mã gói tin"),
    ("revision", "Lần gửi"),
    ("delivery_state", "Trạng thái gửi"),
    ("ack_status", "Trạng thái tiếp nhận"),
    ("classification", "Kết quả đối soát"),
    ("note", "Ghi chú"),
    ("late", "Gửi muộn"),
    ("late_note", "Ghi chú thời hạn"),
)
CLASS_TITLES = {
    "match": "Khớp",
    "unsent": "Chưa gửi",
    "pending": "Đang chờ",
    "missing_at_receiver": "Nơi nhận không có",
    "value_mismatch": "Lệch giá trị",
    "unit_mismatch": "Lệch đơn vị tính",
    "returned": "Bị trả lại",
    "rejected": "Bị từ chối",
    "duplicate": "Trùng lặp",
}
HEADER = PatternFill("solid", fgColor="1F4E78")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")


def neutralised(value: str) -> str:
    """``value`` as a spreadsheet will show it and never evaluate it (CSV)."""
    if value.startswith(FORMULA_START) and not NUMBER.fullmatch(value):
        return "'" + value
    return value


def to_csv(report: Reconciliation) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([name for name, _ in COLUMNS])
    for line in report.lines:
        row = line.as_dict()
        writer.writerow(["" if row[name] is None else neutralised(str(row[name])) for name, _ in COLUMNS])
    return out.getvalue()


def to_xlsx(report: Reconciliation) -> bytes:
    book = Workbook()
    summary = book.active
    summary.title = "Tong hop"
    _header(summary, ["Kết quả đối soát", "Mã", "Số dòng"])
    summary["E1"] = "Chế độ"
    _put(summary, 1, 6, report.regime or "tất cả")
    summary["E2"] = "Kỳ"
    _put(summary, 2, 6, report.period)
    for row, name in enumerate(CLASSES, start=2):
        summary.cell(row=row, column=1, value=CLASS_TITLES[name])
        summary.cell(row=row, column=2, value=name)
        summary.cell(row=row, column=3, value=report.summary[name])
    summary.cell(row=len(CLASSES) + 2, column=1, value="Tổng").font = Font(bold=True)
    summary.cell(row=len(CLASSES) + 2, column=3, value=len(report.lines)).font = Font(bold=True)
    # Lateness is a separate fact: these lines are also counted above by their value verdict.
    summary.cell(row=len(CLASSES) + 3, column=1, value="Trong đó gửi muộn (sau hạn)")
    summary.cell(row=len(CLASSES) + 3, column=2, value="late")
    summary.cell(row=len(CLASSES) + 3, column=3, value=report.late)
    _widths(summary, [28, 22, 10, 2, 10, 24])
    summary.freeze_panes = "A2"

    details = book.create_sheet("Chi tiet")
    _header(details, [title for _, title in COLUMNS])
    for row, line in enumerate(report.lines, start=2):
        fields = line.as_dict()
        for column, (name, _) in enumerate(COLUMNS, start=1):
            _put(details, row, column, fields[name])
    details.freeze_panes = "A2"
    details.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{max(1, len(report.lines) + 1)}"
    _widths(details, [14, 16, 12, 12, 18, 12, 16, 14, 16, 14, 16, 14, 38, 8, 14, 16, 20, 48, 10, 40])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cell(value: Any) -> Any:
    """Values stay text (decimal strings must not become floats in the workbook either), minus the
    control characters a worksheet cannot hold (source text may carry them)."""
    if value is None:
        return ""
    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", value) if isinstance(value, str) else value


def _put(sheet: Any, row: int, column: int, value: Any) -> None:
    """Write one cell; a string is always a string cell, never a formula (openpyxl reads ``=...`` as one)."""
    cell = sheet.cell(row=row, column=column, value=_cell(value))
    if isinstance(cell.value, str):
        cell.data_type = "s"


def _header(sheet: Any, titles: list[str]) -> None:
    for column, title in enumerate(titles, start=1):
        cell = sheet.cell(row=1, column=column, value=title)
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = HEADER
        cell.alignment = Alignment(wrap_text=True, vertical="center")


def _widths(sheet: Any, widths: list[int]) -> None:
    for column, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width
