"""Report templates read by a layout (``TemplateSpec``): XLSX workbooks and their CSV exports.

Reads: each selected sheet as a bounded grid (``adapters.grid``), its header rows (merged cells
spread over the columns they cover, legacy TCVN3/VNI text decoded by the cell's font), then one
indicator per data row: its code, name, unit and STT columns, and one raw observation per value
column matched by header text, with that column's code (``MaCot``), the sheet's period and the
row's or column's reporting unit. Values are exact decimal text: a number as stored, or text in the
template's number format (``1.234,5`` when ``numbers.text_format`` is ``vietnamese``).
Section headings are skipped; subtotal rows are checked against the sum of their children and never
read as values. Every value cell is an observation, a blank, or a problem naming its cell.
Quirks: a value column the layout names but the sheet lacks is one problem for the sheet (a changed
template is never read half-right); a merged value cell is ambiguous and reported.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from adapters.base import Blank, PeriodRef, RawObservation, ReadItem, ReadProblem, SourceRef, period_ref
from adapters.grid import GridCell, GridSheet, HiddenSheet, column_index, column_letter, split_ref, xlsx_sheets
from adapters.legacy_text import LowConfidence, decode_surface, from_font, has_legacy_surface, readable, to_unicode
from adapters.long_format import PERIOD_KEY
from adapters.reasons import excerpt
from adapters.template_spec import ColumnRef, TemplateSpec, compile_header, fold

# re.ASCII throughout: \d is otherwise any script's digit ("１２３" full-width), which int and Decimal
# then read as a number; a figure or a period in them is a paste from elsewhere, said, not taken.
ANY_PERIOD_KEY = re.compile(
    r"(?<!\d)(?P<year>\d{4})-(?P<type>THANG|QUY|6THANG|9THANG|NAM)-(?P<number>\d{1,2})(?!\d)", re.ASCII
)
ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100}
_PLAIN = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$", re.ASCII)
_VIETNAMESE = re.compile(r"^[+-]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?$", re.ASCII)
_CANONICAL = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d*[1-9])?", re.ASCII)
"""A number cell already written as ``plain_decimal`` writes it (no exponent, no leading or trailing
zero): what most writers store for a value typed by hand (``104.729``, ``1500``)."""


def roman(text: str) -> int | None:
    text = text.upper()
    if not text or any(ch not in ROMAN for ch in text):
        return None
    total = 0
    for i, ch in enumerate(text):
        value = ROMAN[ch]
        total += -value if i + 1 < len(text) and ROMAN[text[i + 1]] > value else value
    return total


def plain_decimal(d: Decimal) -> str:
    """Plain notation, exact: no exponent, no trailing fractional zeros, no ``-0``."""
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def number_text(cell: GridCell, text_format: str) -> str | None:
    """A value cell as exact decimal text, or None when it is not a number in the template's format.

    A stored number is a binary double, written with up to 17 significant digits (``97.65`` is
    stored as ``97.65000000000001`` by some writers); Excel shows and computes with 15, so the value
    meant is the double at 15 significant digits: what the officer typed and sees. Text is read
    exactly, in the one format the template declares (never guessed per cell).

    A number formatted as a percentage is the number shown: 0.125 stored, 12.5 read, for a row in
    "%" (reading the stored fraction made every rate a hundred times too small, silently)."""
    raw = cell.text.strip().replace("\u00a0", "")
    # Up to 15 significant digits, the double's 15-digit form is these digits (DBL_DIG = 15; 24
    # characters keep far from subnormal doubles): the text is the value the float and Decimal round
    # trip below makes (issue 19: that round trip was a fifth of reading a workbook).
    if (
        cell.numeric
        and not cell.percent
        and len(raw) <= 24
        and raw != "-0"
        and _CANONICAL.fullmatch(raw)
        and len(raw.lstrip("-0.").replace(".", "")) <= 15
    ):
        return raw
    try:
        if cell.numeric:
            as_double = float(raw)
            if not math.isfinite(as_double):
                return None
            d = Decimal(format(as_double, ".15g"))
            if cell.percent:
                d = d.scaleb(2)
        elif text_format == "vietnamese":
            if not _VIETNAMESE.match(raw):
                return None
            d = Decimal(raw.replace(".", "").replace(",", "."))
        else:
            if not _PLAIN.match(raw):
                return None
            d = Decimal(raw)
    except (InvalidOperation, ValueError):  # float() refuses a damaged number cell ("1>10.54")
        return None
    return plain_decimal(d) if d.is_finite() else None


def period_from(match: re.Match[str], period_type: str) -> PeriodRef | str:
    groups = match.groupdict()
    if "year" not in groups or groups["year"] is None:
        return "the pattern has no group 'year'"
    if not groups["year"].strip().isdecimal() or not groups["year"].strip().isascii():
        return f"{groups['year']!r} is not a year"
    raw_number = (groups.get("number") or "").strip()
    if not raw_number:
        if period_type != "NAM":
            return "the pattern has no group 'number'"
        number: int | None = 1
    else:
        number = int(raw_number) if raw_number.isascii() and raw_number.isdecimal() else roman(raw_number)
    if number is None:
        return f"{raw_number!r} is not a number"
    return period_ref(period_type, number, int(groups["year"].strip()))


@dataclass
class _Row:
    number: int
    code: str | None
    name: str | None
    unit: str | None
    stt: str | None
    values: dict[int, GridCell]
    unit_code: str | None = None


@dataclass
class _Subtotal:
    row: _Row
    children: list[_Row] = field(default_factory=list)
    tolerance: Decimal = Decimal(0)


class TemplateReader:
    """A reader of one file by one layout; ``period``/``unit`` (``--period``, ``--unit``) override
    the layout's sources."""

    def __init__(
        self,
        path: Path,
        spec: TemplateSpec,
        *,
        adapter: str = "xlsx",
        period: PeriodRef | None = None,
        unit: str | None = None,
    ) -> None:
        self.path = path
        self.source = str(path)
        self.spec = spec
        self.name = adapter
        self.period = period
        self.unit = unit

    def wanted(self, title: str) -> bool:
        sel = self.spec.sheets
        if not sel.names and not sel.pattern:
            return True
        return title in sel.names or (sel.pattern is not None and re.search(sel.pattern, title) is not None)

    def sheets(self) -> Iterator[GridSheet | HiddenSheet | ReadProblem]:
        if self.name == "csv":
            from adapters.csv_exports import csv_sheet

            yield csv_sheet(self.path, self.spec.limits, self.spec.csv.encoding, self.spec.csv.delimiter)
            return
        sel = self.spec.sheets
        named = set(sel.names)
        for item in xlsx_sheets(self.path, self.spec.limits, lambda t: True, read_hidden=named.__contains__):
            if isinstance(item, HiddenSheet):
                # Hidden and not named: said whether the layout selects it or not (a hidden copy of the
                # table, or a look-alike name, must not pass unsaid).
                yield item
                continue
            if not isinstance(item, ReadProblem) and not self.wanted(item.title):
                if sel.others == "report":
                    yield ReadProblem(SourceRef(self.source, item.title), "sheet not selected by the layout: not read")
                continue
            yield item

    def read(self) -> Iterator[ReadItem]:
        for sheet in self.sheets():
            if isinstance(sheet, ReadProblem):
                yield sheet
                continue
            if isinstance(sheet, HiddenSheet):
                # Said even when the layout ignores unselected sheets: a hidden sheet may hold a table
                # (an old version, a working copy) that someone expects to have been sent.
                yield ReadProblem(SourceRef(self.source, sheet.title), sheet.reason())
                continue
            yield from _SheetReader(self, sheet).read()
            yield from sheet.problems


class _SheetReader:
    def __init__(self, owner: TemplateReader, sheet: GridSheet) -> None:
        self.owner = owner
        self.spec = owner.spec
        self.sheet = sheet
        self.source = owner.source
        self.anchor_of = sheet.anchors()

    # -- cells ---------------------------------------------------------------------------------
    def cell(self, row: int, col: int, *, merged: str = "any") -> GridCell | None:
        """The cell's content. A covered cell of a merged range shows its anchor's: any anchor in
        header rows; in data rows only one above it in the same column (a label spanning rows),
        never a note or title spread across from another column."""
        found = self.sheet.rows.get(row, {}).get(col)
        if found is None and merged != "none" and (row, col) in self.anchor_of:
            r, c = self.anchor_of[(row, col)]
            if merged == "any" or c == col:
                found = self.sheet.rows.get(r, {}).get(c)
        return found

    def text(self, row: int, col: int | None, merged: str = "any") -> str | None:
        """Decoded NFC text (legacy fonts by the cell's font, else by content); ``LowConfidence``."""
        if col is None:
            return None
        cell = self.cell(row, col, merged=merged)
        if cell is None:
            return None
        return cell_text(cell)

    def ref(self, row: int | None = None, col: int | None = None) -> SourceRef:
        sheet = None if self.owner.name == "csv" else self.sheet.title
        return SourceRef(self.source, sheet, row, column_letter(col) if col else None)

    # -- layout --------------------------------------------------------------------------------
    def header_texts(self) -> tuple[dict[int, str], dict[tuple[int, int], str]]:
        """Each column's header text (its header rows' texts, merged cells spread, joined by ' | '),
        and each (header row, column)'s own text."""
        cols: set[int] = set()
        for r in self.spec.header_rows:
            cols.update(self.sheet.rows.get(r, {}))
            cols.update(c for (rr, c) in self.anchor_of if rr == r)
        per_cell: dict[tuple[int, int], str] = {}
        out: dict[int, str] = {}
        for c in sorted(cols):
            parts: list[str] = []
            for r in self.spec.header_rows:
                try:
                    t = self.text(r, c)
                except LowConfidence:
                    t = None
                if t:
                    t = " ".join(t.split())
                    per_cell[(r, c)] = t
                    if not parts or parts[-1] != t:
                        parts.append(t)
            if parts:
                out[c] = " | ".join(parts)
        return out, per_cell

    def column(self, ref: ColumnRef | None, headers: dict[int, str]) -> int | str | None:
        if ref is None:
            return None
        if ref.column is not None:
            return column_index(ref.column)
        assert ref.header is not None
        pattern = compile_header(ref.header, self.spec.header_match)
        for col, text in headers.items():
            if pattern.search(fold(text, self.spec.header_match)):
                return col
        return f"no column header matches {ref.header!r}"

    def read(self) -> Iterator[ReadItem]:
        spec = self.spec
        headers, per_cell = self.header_texts()
        resolved: dict[str, int | None] = {}
        for key in ("code", "name", "unit", "row_number"):
            found = self.column(getattr(spec.columns, key), headers)
            if isinstance(found, str):
                yield ReadProblem(self.ref(spec.header_rows[0]), f"columns.{key}: {found}; the sheet is not read")
                return
            resolved[key] = found
        labels = {c for c in resolved.values() if c is not None}
        value_cols: dict[int, str | None] = {}
        for i, vc in enumerate(spec.values):
            pattern = compile_header(vc.header, spec.header_match)
            hits = []
            for col in sorted(set(headers) | {c for (_, c) in per_cell}):
                if col in labels or col in value_cols:
                    continue
                text = per_cell.get((vc.row, col)) if vc.row is not None else headers.get(col)
                if text is not None and pattern.search(fold(text, spec.header_match)):
                    hits.append(col)
            if not hits:
                where = f"row {vc.row}" if vc.row else "the header rows"
                yield ReadProblem(
                    self.ref(spec.header_rows[0]),
                    f"values[{i}] (column code {vc.code}): no header in {where} matches {vc.header!r}; "
                    "the sheet is not read (has the template changed?)",
                )
                return
            for col in hits:
                value_cols[col] = vc.code
        period = self.sheet_period()
        column_periods: dict[int, PeriodRef] = {}
        if isinstance(period, str):
            yield ReadProblem(self.ref(), f"period: {period}; the sheet is not read")
            return
        if period is None:  # from each value column's header
            for col in list(value_cols):
                named = self.header_period(headers.get(col, ""))
                if isinstance(named, str):
                    yield ReadProblem(
                        self.ref(spec.header_rows[0], col),
                        f"column header {headers.get(col, '')!r}: {named}; the column is not read",
                    )
                    del value_cols[col]
                else:
                    column_periods[col] = named
        else:  # one period for the sheet: every value column has it
            column_periods = dict.fromkeys(value_cols, period)
        unit_for_column: dict[int, str | None] = {}
        fixed_unit = self.fixed_unit()
        if isinstance(fixed_unit, ReadProblem):
            yield fixed_unit
            return
        us = spec.reporting_unit
        if self.owner.unit is None and us.source == "header_row":
            assert us.row is not None
            for col in list(value_cols):
                code = self.extract(self.safe_text(us.row, col), us.pattern)
                if code is None:
                    yield ReadProblem(
                        self.ref(us.row, col),
                        f"no unit code in row {us.row} above this value column; the column is not read",
                    )
                    del value_cols[col]
                else:
                    unit_for_column[col] = code
        unit_col = column_index(us.column) if us.source == "column" and us.column and self.owner.unit is None else None
        yield from self.rows(resolved, value_cols, column_periods, unit_for_column, fixed_unit, unit_col)

    def safe_text(self, row: int, col: int, merged: str = "any") -> str | None:
        try:
            return self.text(row, col, merged)
        except LowConfidence:
            return None

    @staticmethod
    def extract(text: str | None, pattern: str | None) -> str | None:
        if text is None or not text.strip():
            return None
        text = text.strip()
        if pattern is None:
            return text
        m = re.search(pattern, text)
        if m is None:
            return None
        return (m.groupdict().get("code") or m.group(0)).strip()

    def fixed_unit(self) -> str | ReadProblem | None:
        us = self.spec.reporting_unit
        if self.owner.unit is not None:
            return self.owner.unit
        if us.source == "cell":
            assert us.cell is not None
            r, c = split_ref(us.cell)
            code = self.extract(self.safe_text(r, c), us.pattern)
            if code is None:
                return ReadProblem(self.ref(r, c), "reporting_unit: no unit code in this cell; the sheet is not read")
            return code
        if us.source == "option":
            return ReadProblem(self.ref(), "reporting_unit: the layout takes the unit from --unit; give --unit CODE")
        return None

    def header_period(self, text: str) -> PeriodRef | str:
        ps = self.spec.period
        if ps.pattern:
            m = re.search(ps.pattern, text, re.IGNORECASE)
            if m is None:
                return f"does not match the period pattern {ps.pattern!r}"
            return period_from(m, ps.type)
        key = PERIOD_KEY.match(text.strip())
        if key is None:
            return "is not a period key like 2026-THANG-10"
        return period_ref(key["type"], int(key["number"]), int(key["year"]))

    def sheet_period(self) -> PeriodRef | str | None:
        """The sheet's period, a reason it has none, or None when each column names its own."""
        ps = self.spec.period
        if self.owner.period is not None:
            return self.owner.period
        if ps.source == "header":
            return None
        if ps.source == "option":
            return "the layout takes the period from --period; give --period 2026-THANG-10"
        if ps.source == "sheet_name":
            assert ps.pattern is not None
            m = re.search(ps.pattern, self.sheet.title, re.IGNORECASE)
            if m is None:
                return f"sheet name {self.sheet.title!r} does not match the period pattern {ps.pattern!r}"
            return period_from(m, ps.type)
        texts: list[tuple[int, int]] = []
        if ps.cell is not None:
            texts = [split_ref(ps.cell)]
        else:  # the title area: every cell above the first header row
            top = min(self.spec.header_rows)
            texts = [(r, c) for r in sorted(self.sheet.rows) if r < top for c in sorted(self.sheet.rows[r])]
        for r, c in texts:
            text = self.safe_text(r, c)
            if not text:
                continue
            if ps.pattern is None:  # a period key somewhere in the text: "Kỳ: 2026-THANG-10"
                key = ANY_PERIOD_KEY.search(text)
                if key:
                    return period_ref(key["type"], int(key["number"]), int(key["year"]))
                continue
            m = re.search(ps.pattern, text, re.IGNORECASE)
            if m is not None:
                return period_from(m, ps.type)
        where = ps.cell or f"the title rows above row {min(self.spec.header_rows)}"
        wanted = f"the period pattern {ps.pattern!r}" if ps.pattern else "a period key like 2026-THANG-10"
        return f"no text in {where} matches {wanted}"

    # -- rows ----------------------------------------------------------------------------------
    def rows(
        self,
        cols: dict[str, int | None],
        value_cols: dict[int, str | None],
        column_periods: dict[int, PeriodRef],
        unit_for_column: dict[int, str | None],
        fixed_unit: str | None,
        unit_col: int | None,
    ) -> Iterator[ReadItem]:
        spec = self.spec
        skip = set(spec.skip.rows)
        headings = [re.compile(p) for p in spec.skip.headings]
        blank_marks = {m.strip() for m in spec.skip.blank_marks}
        subtotal_rules = [(re.compile(s.marker, re.IGNORECASE), s) for s in spec.subtotals]
        subtotals: list[_Subtotal] = []
        open_following: _Subtotal | None = None
        since_boundary: list[_Row] = []
        fmt = spec.numbers.text_format
        end = re.compile(spec.end_marker, re.IGNORECASE) if spec.end_marker else None
        for number in sorted(self.sheet.rows):
            if number < spec.data_start or number in skip:
                continue
            if end is not None and any(
                end.search(t) for c in self.sheet.rows[number] if (t := self.safe_text(number, c, "none"))
            ):
                break  # the footer: signatures and notes end the table
            try:
                code = self.text(number, cols["code"], "column")
                row = _Row(
                    number,
                    _code(code, self.cell(number, cols["code"], merged="column") if cols["code"] else None),
                    _clean(self.text(number, cols["name"], "column")),
                    _clean(self.text(number, cols["unit"], "column")),
                    _clean(self.text(number, cols["row_number"], "column")),
                    {c: cell for c in value_cols if (cell := self.cell(number, c, merged="none")) is not None},
                    _clean(self.text(number, unit_col, "column")) if unit_col else None,
                )
            except LowConfidence as exc:
                yield ReadProblem(self.ref(number), str(exc), {"values": _raw_row(self.sheet.rows[number])})
                continue
            fields = {"row_number": row.stt, "name": row.name, "code": row.code}
            rule = next((s for p, s in subtotal_rules if fields[s.field] and p.search(fields[s.field] or "")), None)
            if rule is not None:
                total = _Subtotal(row, tolerance=Decimal(rule.tolerance))
                subtotals.append(total)
                if rule.children == "following":
                    open_following = total
                else:
                    total.children = since_boundary
                    open_following = None
                since_boundary = []
                continue
            if row.code is None:
                marker = (row.stt or row.name or "").strip()
                if any(h.match(marker) for h in headings):
                    open_following, since_boundary = None, []
                if not any(number_text(c, fmt) is not None for c in row.values.values()):
                    continue  # a heading, a note or a label: no figures to lose
                yield ReadProblem(
                    self.ref(number),
                    "row has values but no indicator code",
                    {"values": _raw_row(self.sheet.rows[number])},
                )
                continue
            if open_following is not None:
                open_following.children.append(row)
            since_boundary.append(row)
            unit_here = fixed_unit if fixed_unit is not None else row.unit_code
            for col, column_code in value_cols.items():
                ref = self.ref(number, col)
                if (number, col) in self.anchor_of:
                    r0, c0 = self.anchor_of[(number, col)]
                    yield ReadProblem(
                        ref,
                        f"value cell is merged with {column_letter(c0)}{r0}: which unit or period it "
                        "belongs to is ambiguous",
                    )
                    continue
                cell = row.values.get(col)
                if cell is None or cell.text.strip() in blank_marks:
                    yield Blank(ref, row.code)
                    continue
                value = number_text(cell, fmt)
                if value is None:
                    shown = _display(cell)
                    yield ReadProblem(
                        ref,
                        f"value {shown!r} is not a number"
                        + (" in the Vietnamese format 1.234,5" if fmt == "vietnamese" and not cell.numeric else ""),
                        {"indicator": row.code, "value": shown, "column": column_code},
                    )
                    continue
                yield RawObservation(
                    indicator_code=row.code,
                    indicator_name=row.name,
                    unit=row.unit,
                    period=column_periods[col],
                    admin_unit=unit_for_column.get(col, unit_here),
                    value=value,
                    ref=ref,
                    column=column_code,
                )
        yield from self.check_subtotals(subtotals, value_cols, fmt)

    def check_subtotals(
        self, subtotals: list[_Subtotal], value_cols: dict[int, str | None], fmt: str
    ) -> Iterator[ReadProblem]:
        for total in subtotals:
            label = total.row.name or total.row.stt or total.row.code or ""
            for col, column_code in value_cols.items():
                cell = total.row.values.get(col)
                if cell is None:
                    continue
                stated = number_text(cell, fmt)
                if stated is None:
                    yield ReadProblem(
                        self.ref(total.row.number, col), f"subtotal {label!r}: {_display(cell)!r} is not a number"
                    )
                    continue
                parts = [number_text(c, fmt) for ch in total.children if (c := ch.values.get(col)) is not None]
                summed = sum((Decimal(p) for p in parts if p is not None), Decimal(0))
                if abs(summed - Decimal(stated)) > total.tolerance:
                    rows = [ch.number for ch in total.children]
                    span = f"rows {rows[0]}-{rows[-1]}" if rows else "no rows"
                    yield ReadProblem(
                        self.ref(total.row.number, col),
                        f"subtotal {label!r} column {column_code or column_letter(col)} says {stated}, "
                        f"but its {len(rows)} rows ({span}) sum to {plain_decimal(summed)}; the subtotal is not "
                        "sent, check the figures",
                        {"stated": stated, "sum": plain_decimal(summed), "column": column_code},
                    )


def cell_text(cell: GridCell) -> str:
    """A text cell as Unicode NFC: rich-text runs already decoded; a legacy font (``.Vn*``,
    ``.Vn*H`` capitals, ``VNI-*``) decodes the whole cell; legacy-looking characters without such a
    font are decoded by content, or ``LowConfidence``."""
    if cell.decoded or cell.numeric:
        return unicodedata.normalize("NFC", cell.text)
    detection = from_font(cell.font)
    if detection is not None:
        return decode_surface(cell.text, detection.encoding, uppercase=detection.uppercase)
    if has_legacy_surface(cell.text):
        return to_unicode(cell.text)[0]
    return unicodedata.normalize("NFC", cell.text)


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text or None


def _code(text: str | None, cell: GridCell | None) -> str | None:
    text = _clean(text)
    if text is None:
        return None
    if cell is not None and cell.numeric:  # a code typed as a number: 201, not 201.0
        try:
            return plain_decimal(Decimal(text))
        except InvalidOperation:
            return text
    return text


def _display(cell: GridCell) -> str:
    """A cell as a reason quotes it: decoded (both readings when the encoding is unsure, never the
    legacy surface) and shortened at a word boundary."""
    try:
        return excerpt(cell_text(cell))
    except LowConfidence:
        return readable(cell.text)


def _raw_row(cells: dict[int, GridCell]) -> list[str]:
    return [_display(c) for _, c in sorted(cells.items())[:10]]
