"""XLSX report templates, as provinces fill them in.

Reads: one sheet per period (the sheet name gives the period, e.g. ``T10-2026`` for month 10 of 2026,
by ``sheet_pattern``), a header row whose cells above the value columns carry administrative-unit
codes (``admin_code_row``), and one indicator per row with its code, name and unit columns.
Formulas are read as their cached values; each sheet is streamed as a bounded grid
(``adapters.grid``: limits on rows, columns, cells, consecutive empty rows and decompressed size,
each a named problem). For any other shape, give a layout (``adapters.template_reader``).
Config keys (``XlsxTemplateLayout``): ``sheet_pattern``, ``first_data_row``, ``code_column``,
``name_column``, ``unit_column``, ``admin_code_row``, ``first_value_column``.
Quirks: a truncated or non-XLSX file is one ``ReadProblem`` naming the file; a sheet whose name does
not match the pattern is reported, not silently skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from adapters.base import Blank, PeriodRef, RawObservation, ReadItem, ReadProblem, SourceRef, period_ref
from adapters.grid import DAMAGED, GridCell, GridSheet, HiddenSheet, column_letter, xlsx_sheets
from adapters.legacy_text import LowConfidence
from adapters.long_format import PERIOD_KEY
from adapters.template_reader import cell_text, number_text
from adapters.template_spec import Limits

__all__ = ["DAMAGED", "XlsxTemplateLayout", "XlsxTemplateReader"]


@dataclass(frozen=True)
class XlsxTemplateLayout:
    """Where things are in a template. ``columns``: ``"admin"`` when the value columns are
    administrative units (their codes in ``header_row``; the sheet name gives the period), ``"period"``
    when they are periods (``2026-THANG-10`` keys in ``header_row``; every value is for ``admin_unit``)."""

    sheet_pattern: str = r"^T(?P<number>\d{1,2})-(?P<year>\d{4})$"
    period_type: str = "THANG"
    first_data_row: int = 8
    code_column: int = 2
    name_column: int = 3
    unit_column: int = 4
    admin_code_row: int = 7
    first_value_column: int = 5
    columns: Literal["admin", "period"] = "admin"
    admin_unit: str | None = None  # with period columns: the unit all values are for (default: the province)

    @property
    def header_row(self) -> int:
        return self.admin_code_row


def _header_period(header: str) -> PeriodRef | str:
    """The period a column header names, or why it names none."""
    key = PERIOD_KEY.match(header)
    if key is None:
        return "is not a period key like 2026-THANG-10"
    checked = period_ref(key["type"], int(key["number"]), int(key["year"]))
    return f"is not a period ({checked})" if isinstance(checked, str) else checked


def _value(cell: GridCell) -> str:
    """A value as read: a stored number as exact decimal text (Excel's 15 significant digits), text
    as decoded text (a non-number goes on to the mapping, which quarantines it with its reason)."""
    if cell.numeric:
        return number_text(cell, "plain") or cell.text
    try:
        return cell_text(cell)
    except LowConfidence:
        return cell.text


class XlsxTemplateReader:
    name = "xlsx"

    def __init__(self, path: Path, layout: XlsxTemplateLayout | None = None, limits: Limits | None = None) -> None:
        self.path = path
        self.source = str(path)
        self.layout = layout or XlsxTemplateLayout()
        self.limits = limits or Limits()

    def read(self) -> Iterator[ReadItem]:
        lay = self.layout
        pattern = re.compile(lay.sheet_pattern)
        for ws in xlsx_sheets(self.path, self.limits, lambda _title: True):
            if isinstance(ws, ReadProblem):
                yield ws
                continue
            if isinstance(ws, HiddenSheet):
                yield ReadProblem(SourceRef(self.source, ws.title), ws.reason())
                continue
            if lay.columns == "period":
                yield from self._sheet(ws, None)
            else:
                match = pattern.match(ws.title)
                if match is None:
                    yield ReadProblem(
                        SourceRef(self.source, ws.title),
                        f"sheet name does not match the period pattern {lay.sheet_pattern!r}",
                    )
                    continue
                period = period_ref(lay.period_type, int(match["number"]), int(match["year"]))
                if isinstance(period, str):
                    yield ReadProblem(SourceRef(self.source, ws.title), f"sheet name: {period}; the sheet is not read")
                    continue
                yield from self._sheet(ws, period)
            yield from ws.problems

    def _text(self, ws: GridSheet, anchor_of: dict[tuple[int, int], tuple[int, int]], row: int, col: int) -> str | None:
        """A label cell as decoded NFC text; a merged label reads from its anchor. ``LowConfidence``."""
        cell = ws.rows.get(row, {}).get(col)
        if cell is None and (row, col) in anchor_of:
            r, c = anchor_of[(row, col)]
            cell = ws.rows.get(r, {}).get(c)
        if cell is None or cell.text == "":
            return None
        return cell_text(cell)

    def _unread(self, ws: GridSheet, headers: dict[int, str], refused: set[int]) -> Iterator[ReadProblem]:
        """What this layout would pass over, said: numbers above the first data row, values in columns
        without a header, a sheet with values and no header at all (a workbook whose codes are not in
        the row this layout expects read 0 values and said nothing; found by an outside test)."""
        lay = self.layout
        what = "administrative-unit codes" if lay.columns == "admin" else "period keys"
        values = {
            (r, c): cell
            for r, cells in ws.rows.items()
            if r != lay.header_row
            for c, cell in cells.items()
            if c >= lay.first_value_column and c not in refused and cell.text.strip()
        }  # a refused header's column is one problem already, with what is wrong with its header
        if not headers and refused:
            return
        if not headers:
            if any(r >= lay.first_data_row or cell.numeric for (r, _), cell in values.items()):
                yield ReadProblem(
                    SourceRef(self.source, ws.title, lay.header_row),
                    f"no {what} in row {lay.header_row} from column {column_letter(lay.first_value_column)} on, "
                    f"where this layout expects them: the sheet's {len(values)} value cell(s) are not read; "
                    "give the template's layout (ingest --template) or check the sheet",
                )
            return
        for (r, c), cell in sorted(values.items()):
            if r < lay.first_data_row and cell.numeric:
                yield ReadProblem(
                    SourceRef(self.source, ws.title, r, column_letter(c)),
                    f"a number above the first data row ({lay.first_data_row}) is not read: "
                    "is the layout right for this sheet?",
                    {"value": _value(cell)},
                )
            elif r >= lay.first_data_row and c not in headers:
                yield ReadProblem(
                    SourceRef(self.source, ws.title, r, column_letter(c)),
                    f"a value in a column with no {what[:-1]} in row {lay.header_row}: not read",
                    {"value": _value(cell)},
                )

    def _sheet(self, ws: GridSheet, period: PeriodRef | None) -> Iterator[ReadItem]:
        lay = self.layout
        anchor_of = ws.anchors()
        headers: dict[int, str] = {}
        column_periods: dict[int, PeriodRef] = {}  # with period columns: each column's period
        refused: set[int] = set()  # columns whose header is refused (a problem each)
        header_cells = ws.rows.get(lay.header_row, {})
        header_cols = set(header_cells) | {c for (r, c) in anchor_of if r == lay.header_row}
        for col in sorted(c for c in header_cols if c >= lay.first_value_column):
            cell = header_cells.get(col)
            if cell is None and (lay.header_row, col) in anchor_of:
                ar, ac = anchor_of[(lay.header_row, col)]
                cell = ws.rows.get(ar, {}).get(ac)
            text = _value(cell).strip() if cell is not None else ""
            if not text:
                continue
            if lay.columns == "period":
                named = _header_period(text)
                if isinstance(named, str):
                    yield ReadProblem(
                        SourceRef(self.source, ws.title, lay.header_row, column_letter(col)),
                        f"column header {text!r} {named}: the column is not read",
                    )
                    refused.add(col)
                    continue
                column_periods[col] = named
            headers[col] = text
        yield from self._unread(ws, headers, refused)
        for row_no in sorted(ws.rows):
            if row_no < lay.first_data_row or row_no == lay.header_row:
                continue
            cells = ws.rows[row_no]
            # The row's first ten cells, for a problem to show (converted for the ten only: converting
            # every cell of every row before slicing was a second number conversion per value).
            raw_values = [_value(c) for _, c in sorted(cells.items())[:10]]
            try:
                code = self._text(ws, anchor_of, row_no, lay.code_column)
                name = self._text(ws, anchor_of, row_no, lay.name_column)
                unit = self._text(ws, anchor_of, row_no, lay.unit_column)
            except LowConfidence as exc:
                yield ReadProblem(SourceRef(self.source, ws.title, row_no), str(exc), {"values": raw_values})
                continue
            if code is None or not code.strip():
                yield ReadProblem(
                    SourceRef(self.source, ws.title, row_no),
                    "row has values but no indicator code",
                    {"values": raw_values},
                )
                continue
            code = code.strip()
            for col, header in headers.items():
                ref = SourceRef(self.source, ws.title, row_no, column_letter(col))
                if (row_no, col) in anchor_of:
                    ar, ac = anchor_of[(row_no, col)]
                    yield ReadProblem(
                        ref,
                        f"value cell is merged with {column_letter(ac)}{ar}: "
                        "which unit or period it belongs to is ambiguous",
                    )
                    continue
                cell = cells.get(col)
                if cell is None or not cell.text.strip():
                    yield Blank(ref, code)
                    continue
                if cell.uncached:
                    yield ReadProblem(
                        ref,
                        f"formula {cell.text[:80]} has no saved result: open the workbook in Excel or "
                        "LibreOffice and save it (they store each formula's result), then read it again",
                    )
                    continue
                if lay.columns == "period":
                    cell_period, admin = column_periods[col], lay.admin_unit
                else:
                    assert period is not None
                    cell_period, admin = period, header
                yield RawObservation(
                    indicator_code=code,
                    indicator_name=name,
                    unit=unit.strip() if unit else None,
                    period=cell_period,
                    admin_unit=admin,
                    value=_value(cell),
                    ref=ref,
                )
