"""XLSX report templates, as provinces fill them in.

Reads: one sheet per period (the sheet name gives the period, e.g. ``T10-2026`` for month 10 of 2026,
by ``sheet_pattern``), a header row whose cells above the value columns carry administrative-unit
codes (``admin_code_row``), and one indicator per row with its code, name and unit columns.
Formulas are read as their cached values (``data_only``); the file is streamed (``read_only``).
Config keys (``XlsxTemplateLayout``): ``sheet_pattern``, ``first_data_row``, ``code_column``,
``name_column``, ``unit_column``, ``admin_code_row``, ``first_value_column``.
Quirks: a truncated or non-XLSX file is one ``ReadProblem`` naming the file; a sheet whose name does
not match the pattern is reported, not silently skipped.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

from lxml import etree
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter, range_boundaries
from openpyxl.utils.exceptions import InvalidFileException

from adapters.base import Blank, PeriodRef, RawObservation, ReadItem, ReadProblem, SourceRef, period_ref
from adapters.legacy_text import LowConfidence, decode_surface, from_font, has_legacy_surface, to_unicode
from adapters.long_format import PERIOD_KEY


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


def _rich_text_legacy(path: Path) -> dict[str, str]:
    """Shared strings written in rich text whose runs use legacy fonts, decoded run by run.

    Read-only worksheets return a rich string's plain text only; the run fonts live in
    ``xl/sharedStrings.xml``, streamed here once per workbook. Maps plain text -> Unicode NFC."""
    out: dict[str, str] = {}
    with zipfile.ZipFile(path) as zf:
        if "xl/sharedStrings.xml" not in zf.namelist():
            return out
        with zf.open("xl/sharedStrings.xml") as xml:
            for _, si in etree.iterparse(xml, tag="{*}si", resolve_entities=False, no_network=True):
                _decode_runs(si, out)
                si.clear()
    return out


def _decode_runs(string_item: Any, out: dict[str, str]) -> None:
    """A rich string (``<si>`` or inline ``<is>``): when a run's font is legacy, decode that run."""
    runs = string_item.findall("{*}r")
    if not runs:
        return
    plain, decoded, legacy = [], [], False
    for run in runs:
        text = "".join(t.text or "" for t in run.findall("{*}t"))
        font = run.find("{*}rPr/{*}rFont")
        detection = from_font(font.get("val") if font is not None else None)
        plain.append(text)
        if detection is not None:
            legacy = True
            decoded.append(decode_surface(text, detection.encoding, uppercase=detection.uppercase))
        else:
            decoded.append(text)
    if legacy:
        out["".join(plain)] = unicodedata.normalize("NFC", "".join(decoded))


def _sheet_extras(path: Path, member: str, rich: dict[str, str]) -> list[tuple[int, int, int, int]]:
    """What read-only worksheets do not expose, streamed from the sheet's XML: every merged range as
    (min_row, min_col, max_row, max_col), and inline rich strings in legacy fonts (added to ``rich``)."""
    out = []
    with zipfile.ZipFile(path) as zf, zf.open(member) as xml:
        for _, el in etree.iterparse(xml, tag=("{*}mergeCell", "{*}is"), resolve_entities=False, no_network=True):
            if el.tag.endswith("is"):
                _decode_runs(el, rich)
            else:
                ref = el.get("ref", "")
                if ":" in ref:
                    min_col, min_row, max_col, max_row = range_boundaries(ref)
                    out.append((min_row, min_col, max_row, max_col))
            el.clear()
    return out


def _text(cells: tuple[Any, ...], column: int, rich: dict[str, str] | None = None) -> str | None:
    """A text cell as Unicode NFC: by its rich-text run fonts or its cell font when legacy (``.Vn*``,
    ``.Vn*H``, ``VNI-*``), by content when legacy-looking characters appear without such a font
    (``LowConfidence`` if unsure)."""
    if len(cells) < column or cells[column - 1].value in (None, ""):
        return None
    cell = cells[column - 1]
    value = str(cell.value)
    if rich and value in rich:
        return rich[value]
    font = getattr(getattr(cell, "font", None), "name", None)
    detection = from_font(font)
    if detection is not None:
        return decode_surface(value, detection.encoding, uppercase=detection.uppercase)
    if has_legacy_surface(value):
        return to_unicode(value)[0]
    return value


DAMAGED: tuple[type[Exception], ...] = (
    zipfile.BadZipFile,  # not a zip, or a damaged directory
    zlib.error,  # a damaged member
    EOFError,  # a member cut short
    SyntaxError,  # a member that is not well-formed XML (lxml's XMLSyntaxError, xml.etree's ParseError)
    KeyError,  # a member the workbook names but does not hold
    TypeError,  # XML well-formed but not what openpyxl's descriptors expect (a missing attribute)
    ValueError,
    OSError,
)
"""What a damaged workbook raises from openpyxl, zipfile and lxml (found by mutating a valid one:
tests/integration/test_adapters.py). Each becomes one ``ReadProblem`` naming the file and the cause,
never a traceback; values read before the damage stay read, each with its cell."""


def _header_period(header: str) -> PeriodRef | str:
    """The period a column header names, or why it names none."""
    key = PERIOD_KEY.match(header)
    if key is None:
        return "is not a period key like 2026-THANG-10"
    checked = period_ref(key["type"], int(key["number"]), int(key["year"]))
    return f"is not a period ({checked})" if isinstance(checked, str) else checked


class XlsxTemplateReader:
    name = "xlsx"

    def __init__(self, path: Path, layout: XlsxTemplateLayout | None = None) -> None:
        self.path = path
        self.source = str(path)
        self.layout = layout or XlsxTemplateLayout()
        self._rich: dict[str, str] = {}

    def read(self) -> Iterator[ReadItem]:
        # The file is opened here, not by openpyxl: when ``load_workbook`` fails on a damaged archive
        # it leaves its own handle open (found by the mutation tests), and a gateway that reads many
        # files must not leak one per damaged workbook.
        try:
            handle = self.path.open("rb")
        except OSError as exc:
            yield ReadProblem(SourceRef(self.source), f"cannot open ({exc.strerror})")
            return
        with handle:
            yield from self._workbook(handle)

    def _workbook(self, handle: BinaryIO) -> Iterator[ReadItem]:
        lay = self.layout
        try:
            wb = load_workbook(handle, read_only=True, data_only=True)
        except (InvalidFileException, *DAMAGED) as exc:
            yield ReadProblem(SourceRef(self.source), f"not a readable XLSX workbook ({type(exc).__name__}: {exc})")
            return
        try:
            self._rich = _rich_text_legacy(self.path)
            pattern = re.compile(lay.sheet_pattern)
            for ws in wb.worksheets:
                if lay.columns == "period":
                    yield from self._sheet(ws, None)
                    continue
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
        except DAMAGED as exc:
            yield ReadProblem(SourceRef(self.source), f"workbook is damaged ({type(exc).__name__}: {exc})")
        finally:
            wb.close()

    def _sheet(self, ws: Any, period: PeriodRef | None) -> Iterator[ReadItem]:
        lay = self.layout
        rich = dict(self._rich)
        merged = _sheet_extras(self.path, ws._worksheet_path, rich)
        anchor_of = {
            (r, c): (m[0], m[1])
            for m in merged
            for r in range(m[0], m[2] + 1)
            for c in range(m[1], m[3] + 1)
            if (r, c) != (m[0], m[1])
        }
        anchors: dict[tuple[int, int], Any] = {}
        headers: dict[int, str] = {}
        column_periods: dict[int, PeriodRef] = {}  # with period columns: each column's period
        for row_no, cells in enumerate(ws.iter_rows(), start=1):
            row = [c.value for c in cells]
            for col, value in enumerate(row, start=1):
                if (row_no, col) in anchor_of:
                    # A merged cell shows its anchor's content (a code or a label spanning cells).
                    row[col - 1] = anchors.get(anchor_of[(row_no, col)])
                elif value is not None:
                    anchors[(row_no, col)] = value
            if row_no == lay.header_row:
                for col in range(lay.first_value_column, len(row) + 1):
                    cell = row[col - 1]
                    if cell is None or not str(cell).strip():
                        continue
                    if lay.columns == "period":
                        named = _header_period(str(cell).strip())
                        if isinstance(named, str):
                            yield ReadProblem(
                                SourceRef(self.source, ws.title, row_no, get_column_letter(col)),
                                f"column header {cell!r} {named}: the column is not read",
                            )
                            continue
                        column_periods[col] = named
                    headers[col] = str(cell).strip()
                continue
            if row_no < lay.first_data_row:
                continue
            code = row[lay.code_column - 1] if len(row) >= lay.code_column else None
            if code is None or not str(code).strip():
                if any(v is not None and str(v).strip() for v in row):
                    yield ReadProblem(
                        SourceRef(self.source, ws.title, row_no),
                        "row has values but no indicator code",
                        {"values": [str(v) for v in row if v is not None][:10]},
                    )
                continue
            code = str(code).strip()
            try:
                name = _text(cells, lay.name_column, rich) or (
                    str(row[lay.name_column - 1]) if len(row) >= lay.name_column and row[lay.name_column - 1] else None
                )
                unit = _text(cells, lay.unit_column, rich) or (
                    str(row[lay.unit_column - 1]) if len(row) >= lay.unit_column and row[lay.unit_column - 1] else None
                )
            except LowConfidence as exc:
                yield ReadProblem(
                    SourceRef(self.source, ws.title, row_no),
                    str(exc),
                    {"values": [str(v) for v in row if v is not None][:10]},
                )
                continue
            for col, header in headers.items():
                ref = SourceRef(self.source, ws.title, row_no, get_column_letter(col))
                if (row_no, col) in anchor_of:
                    yield ReadProblem(
                        ref,
                        "value cell is merged with "
                        f"{get_column_letter(anchor_of[(row_no, col)][1])}{anchor_of[(row_no, col)][0]}: "
                        "which unit or period it belongs to is ambiguous",
                    )
                    continue
                value = row[col - 1] if len(row) >= col else None
                if value is None or (isinstance(value, str) and not value.strip()):
                    yield Blank(ref, code)
                    continue
                if isinstance(value, str):  # text in a value cell ("chưa có số liệu" in .VnTime): decoded too
                    with contextlib.suppress(LowConfidence):  # not a number either way; the reason quotes both readings
                        value = _text(cells, col, rich) or value
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
                    value=value,
                    ref=ref,
                )
