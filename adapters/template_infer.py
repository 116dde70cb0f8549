"""Propose a layout for a workbook (``gateway template infer``), and say what is unsure.

Looks at the first sheet (or the sheets named like months) as a grid: the code column is the one
whose cells look like indicator codes (``T0201``, ``01.02``) down a run of rows; the rows above the
first of them, up to the title, are the header rows; the name column holds the longest texts, the
unit column's header says "đơn vị tính"; value columns hold numbers, each named by its header text
and given a column code by the words in it (``Lũy kế`` LK, ``Kế hoạch`` KH, ``So cùng kỳ`` CK,
``Thực hiện`` TH); a header row of five-digit codes above them is a row of commune codes; the
period comes from the sheet names or a title such as "Tháng 10/2026" or "Quý III năm 2026";
Vietnamese number text (``1.234,5``) is recognised when every such cell fits it. The operator
reads the notes, edits the YAML and keeps it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.base import ReadProblem
from adapters.grid import GridCell, GridSheet, HiddenSheet, column_letter, xlsx_sheets
from adapters.legacy_text import LowConfidence, from_font
from adapters.template_reader import _PLAIN, _VIETNAMESE, cell_text
from adapters.template_spec import HEADINGS, HeaderMatch, Limits, TemplateSpec, fold

CODE_LIKE = re.compile(r"^[A-ZĐ]{1,4}[-_.]?\d{2,}[A-Za-z0-9._-]*$")
MONTH_SHEET = r"^T(?P<number>\d{1,2})-(?P<year>\d{4})$"
TITLE_PERIODS: list[tuple[str, str]] = [
    ("QUY", r"quý\s+(?P<number>[IV]+|\d)\s*(?:/|-|năm)\s*(?P<year>\d{4})"),
    ("6THANG", r"6\s+tháng\s+(?:đầu\s+)?năm\s+(?P<year>\d{4})"),
    ("THANG", r"tháng\s+(?P<number>\d{1,2})\s*(?:/|-|năm)\s*(?P<year>\d{4})"),
]
COMMUNE_CODE = re.compile(r"^\d{5}$")
SUBTOTAL_NAME = r"^(Tổng số|Tổng cộng|Cộng)\b"
COLUMN_NUMBERS = re.compile(r"^\(?[A-Z0-9]{1,2}\)?$|^\(?\d+\s*=.*\)?$")


@dataclass
class Inferred:
    spec: TemplateSpec
    notes: list[str] = field(default_factory=list)  # what the operator should check
    legacy_fonts: list[str] = field(default_factory=list)


class InferError(ValueError):
    """Nothing in the workbook looks like a report table."""


def _text(sheet: GridSheet, anchors: dict[tuple[int, int], tuple[int, int]], r: int, c: int) -> str | None:
    cell = sheet.rows.get(r, {}).get(c)
    if cell is None and (r, c) in anchors:
        ar, ac = anchors[(r, c)]
        cell = sheet.rows.get(ar, {}).get(ac)
    if cell is None:
        return None
    try:
        text = " ".join(cell_text(cell).split())
    except LowConfidence:
        return None
    return text or None


def _is_number(cell: GridCell) -> str | None:
    """'stored', 'plain' or 'vietnamese' for a number, None otherwise."""
    if cell.numeric:
        return "stored"
    raw = cell.text.strip().replace("\u00a0", "")
    if _PLAIN.match(raw) and not re.match(r"^\d{1,3}\.\d{3}$", raw):
        return "plain"
    if _VIETNAMESE.match(raw):
        return "vietnamese"
    return None


def column_code(text: str, taken: set[str]) -> tuple[str, bool]:
    """A column code from the header's words, and whether that was a sure guess."""
    t = fold(text, HeaderMatch(ignore_case=True, ignore_diacritics=True))
    cumulative = re.search(r"luy ke|tu dau nam|cong don|\b\d+ thang\b", t) is not None
    if re.search(r"so voi ke hoach|% ke hoach|so ke hoach", t):
        base = "TLKH"
    elif re.search(r"so cung ky|cung ky \(%\)|% cung ky", t):
        base = "LKCK" if cumulative and t.rsplit("|", 1)[-1].strip().startswith("luy ke") else "CK"
    elif re.search(r"cung ky nam truoc", t):
        base = "CKNT"
    elif re.search(r"ke hoach", t):
        base = "KH"
    elif cumulative:
        base = "LK"
    elif re.search(r"thuc hien|uoc|so lieu|thang|quy", t):
        base = "TH"
    else:
        base = ""
    sure = bool(base) and base not in taken
    if not base:
        base = "C"
    code, n = base, 2
    while code in taken:
        code, n = f"{base}{n}", n + 1
    return code, sure


def infer(path: Path, adapter: str = "xlsx") -> Inferred:
    """A layout for ``path`` with notes on what to check; ``InferError`` when no table is found."""
    hidden: list[HiddenSheet] = []
    if adapter == "csv":
        from adapters.csv_exports import csv_sheet

        found = csv_sheet(path, Limits())
        if isinstance(found, ReadProblem):
            raise InferError(found.reason)
        sheets = [found]
    else:
        sheets = []
        for item in xlsx_sheets(path, Limits(), lambda _t: True):
            if isinstance(item, ReadProblem):
                raise InferError(item.reason)
            if isinstance(item, HiddenSheet):
                hidden.append(item)
                continue
            sheets.append(item)
    if not sheets:
        raise InferError("the workbook has no sheets" + (" that are not hidden" if hidden else ""))
    notes: list[str] = [f"sheet {h.title!r} is {h.state} in the workbook: not looked at" for h in hidden]
    monthly = [s for s in sheets if re.match(MONTH_SHEET, s.title)]
    main = monthly[0] if monthly else next((s for s in sheets if _code_column(s)), sheets[0])
    found_code = _code_column(main)
    if found_code is None:
        raise InferError(f"no column of indicator codes (like T0201) found in sheet {main.title!r}")
    code_col, first = found_code
    anchors = main.anchors()
    raw: dict[str, Any] = {"name": path.stem}
    if adapter != "csv":
        if monthly:
            raw["sheets"] = {"pattern": r"^T\d{1,2}-\d{4}$"}
            if len(monthly) < len(sheets):
                others = ", ".join(repr(s.title) for s in sheets if s not in monthly)
                notes.append(f"sheets {others} do not look like monthly sheets and are not read")
        else:
            raw["sheets"] = {"names": [main.title]}
            if len(sheets) > 1:
                notes.append(f"only sheet {main.title!r} is read; the others hold no table of indicator codes")

    # the header rows: the rows just above the first data row that hold text in several columns
    skip_rows: list[int] = []
    r = first - 1
    while r >= 1 and _is_column_numbers(main, r):
        skip_rows.append(r)
        r -= 1
    headings = [re.compile(h) for h in HEADINGS]
    while r >= 1 and any(
        h.match(_first_text(main, r)) for h in headings
    ):  # a section heading (I., A.) above the first coded row belongs to the data
        r -= 1
    header_rows: list[int] = []
    while r >= 1:
        cols = _row_columns(main, anchors, r)
        if len(cols) < 2 or _is_title(main, r):
            break
        header_rows.insert(0, r)
        r -= 1
    if not header_rows:
        header_rows = [first - 1] if first > 1 else [1]
        notes.append(f"no header row found above row {first}; header_rows is a guess")
    headers = _headers(main, anchors, header_rows)
    data_rows = [n for n in sorted(main.rows) if n >= first]

    # label columns
    def texts(col: int) -> list[str]:
        return [t for n in data_rows if (t := _text(main, {}, n, col))]

    unit_code_col = next((c for c, h in headers.items() if re.search(r"mã (đơn vị|xã|đvhc)", h, re.IGNORECASE)), None)
    numeric_cols = []
    for col in sorted({c for n in data_rows for c in main.rows[n]}):
        if col in (code_col, unit_code_col):
            continue
        cells = [main.rows[n][col] for n in data_rows if col in main.rows[n] and _code_at(main, n, code_col)]
        kinds = [_is_number(c) for c in cells]
        if cells and sum(k is not None for k in kinds) >= max(1, int(0.6 * len(cells))) and col > code_col:
            numeric_cols.append(col)
    unit_col = next((c for c, h in headers.items() if re.search(r"đơn vị tính|đvt", h, re.IGNORECASE)), None)
    label_cols = [c for c in sorted({c for n in data_rows for c in main.rows[n]}) if c not in numeric_cols]
    name_col = max(
        (c for c in label_cols if c not in (code_col, unit_col, unit_code_col)),
        key=lambda c: sum(len(t) for t in texts(c)),
        default=None,
    )
    stt_col = next((c for c, h in headers.items() if re.fullmatch(r"(stt|tt|số tt|số thứ tự)", h, re.IGNORECASE)), None)
    if stt_col is None and code_col > 1 and (code_col - 1) in label_cols and (code_col - 1) != name_col:
        stt_col = code_col - 1
    columns: dict[str, Any] = {"code": {"column": column_letter(code_col)}}
    if name_col:
        columns["name"] = {"column": column_letter(name_col)}
    else:
        notes.append("no column of indicator names found")
    if unit_col:
        columns["unit"] = {"column": column_letter(unit_col)}
    else:
        notes.append("no unit-of-measure column (header 'Đơn vị tính' or 'ĐVT') found")
    if stt_col:
        columns["row_number"] = {"column": column_letter(stt_col)}

    # value columns: a row of commune codes, or header texts with column codes
    values: list[dict[str, Any]] = []
    code_row = next(
        (
            hr
            for hr in header_rows
            if sum(1 for c in numeric_cols if COMMUNE_CODE.match(_text(main, anchors, hr, c) or "")) >= 2
        ),
        None,
    )
    if code_row is not None:
        values.append({"header": r"^\d{5}$", "row": code_row, "code": "TH"})
        raw_unit: dict[str, Any] = {"source": "header_row", "row": code_row, "pattern": r"^(?P<code>\d{5})$"}
        left = [c for c in numeric_cols if not COMMUNE_CODE.match(_text(main, anchors, code_row, c) or "")]
        for c in left:
            notes.append(f"column {column_letter(c)} ({headers.get(c, '')!r}) has no commune code: not read")
        notes.append("commune columns: column code TH proposed for every commune column")
    else:
        raw_unit = {"source": "column", "column": column_letter(unit_code_col)} if unit_code_col else {}
        taken: set[str] = set()
        for c in numeric_cols:
            text = headers.get(c)
            if not text:
                notes.append(f"column {column_letter(c)} holds numbers but has no header text: not read")
                continue
            code, sure = column_code(text, taken)
            taken.add(code)
            pattern = re.sub(r"\d+", lambda _m: r"\d+", re.escape(text).replace("\\ ", " "))  # fits next month
            values.append({"header": "^" + pattern + "$", "code": code})
            if not sure:
                notes.append(f"column {column_letter(c)} ({text!r}): column code {code} is a guess")
    if not values:
        raise InferError(f"sheet {main.title!r}: no column of numbers with a header found")

    # the period
    period: dict[str, Any]
    if monthly:
        period = {"type": "THANG", "source": "sheet_name", "pattern": MONTH_SHEET}
    else:
        period = _title_period(main, anchors, min(header_rows))
        if period["source"] == "option":
            notes.append("no period found in the title rows: give --period at ingest, or set period in the layout")

    # numbers written as text
    number_kinds = Counter(
        k for n in data_rows for c in numeric_cols if (cell := main.rows[n].get(c)) and (k := _is_number(cell))
    )
    numbers = {}
    if number_kinds["vietnamese"]:
        numbers = {"text_format": "vietnamese"}
        if number_kinds["plain"]:
            notes.append("numbers as text: most read as Vietnamese 1.234,5, some as plain; check numbers.text_format")
    ambiguous = [
        f"{column_letter(c)}{n}"
        for n in data_rows
        for c in numeric_cols
        if (cell := main.rows[n].get(c)) and not cell.numeric and re.match(r"^\d{1,3}\.\d{3}$", cell.text.strip())
    ]
    if ambiguous and not number_kinds["vietnamese"]:
        notes.append(f"{ambiguous[0]} reads as 1.234: a thousand or one point two three four? set numbers.text_format")

    # blank marks, subtotals
    marks = sorted(
        {
            cell.text.strip()
            for n in data_rows
            for c in numeric_cols
            if (cell := main.rows[n].get(c)) and cell.text.strip() in ("-", "–", "x", "...")
        }
    )
    skip: dict[str, Any] = {}
    if skip_rows:
        skip["rows"] = sorted(skip_rows)
    if marks:
        skip["blank_marks"] = marks
    subtotals = _subtotals(main, data_rows, code_col, name_col, stt_col, numeric_cols)

    raw.update({"header_rows": header_rows, "columns": columns, "values": values, "period": period})
    if raw_unit:
        raw["reporting_unit"] = raw_unit
    if skip:
        raw["skip"] = skip
    if subtotals:
        raw["subtotals"] = subtotals
    if numbers:
        raw["numbers"] = numbers
    legacy = sorted(
        {
            cell.font
            for s in sheets
            for row in s.rows.values()
            for cell in row.values()
            if cell.font and from_font(cell.font)
        }
    )
    if legacy:
        notes.append(f"legacy fonts found: {', '.join(legacy)} (text in them is decoded by font)")
    return Inferred(TemplateSpec.model_validate(raw), notes, legacy)


def _first_text(sheet: GridSheet, r: int) -> str:
    cells = sheet.rows.get(r, {})
    return cells[min(cells)].text.strip() if cells else ""


def _code_at(sheet: GridSheet, row: int, col: int) -> bool:
    cell = sheet.rows.get(row, {}).get(col)
    return cell is not None and not cell.numeric and CODE_LIKE.match(cell.text.strip()) is not None


def _code_column(sheet: GridSheet) -> tuple[int, int] | None:
    """(column, first data row) of the column with the most code-like cells (at least two)."""
    counts: Counter[int] = Counter()
    first: dict[int, int] = {}
    for n in sorted(sheet.rows):
        for c in sheet.rows[n]:
            if _code_at(sheet, n, c):
                counts[c] += 1
                first.setdefault(c, n)
    if not counts:
        return None
    col, n = counts.most_common(1)[0]
    return (col, first[col]) if n >= 2 else None


def _row_columns(sheet: GridSheet, anchors: dict[tuple[int, int], tuple[int, int]], r: int) -> set[int]:
    return set(sheet.rows.get(r, {})) | {c for (rr, c) in anchors if rr == r}


def _is_title(sheet: GridSheet, r: int) -> bool:
    """One text spread over a merged range (or alone in its row): a title, not a header."""
    return len(sheet.rows.get(r, {})) <= 1


def _is_column_numbers(sheet: GridSheet, r: int) -> bool:
    cells = sheet.rows.get(r, {})
    return len(cells) >= 3 and all(COLUMN_NUMBERS.match(c.text.strip()) for c in cells.values())


def _headers(sheet: GridSheet, anchors: dict[tuple[int, int], tuple[int, int]], rows: list[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    cols = set().union(*(_row_columns(sheet, anchors, r) for r in rows))
    for c in sorted(cols):
        parts: list[str] = []
        for r in rows:
            t = _text(sheet, anchors, r, c)
            if t and (not parts or parts[-1] != t):
                parts.append(t)
        if parts:
            out[c] = " | ".join(parts)
    return out


def _title_period(sheet: GridSheet, anchors: dict[tuple[int, int], tuple[int, int]], top: int) -> dict[str, Any]:
    for r in sorted(sheet.rows):
        if r >= top:
            break
        for c in sorted(sheet.rows[r]):
            text = _text(sheet, anchors, r, c) or ""
            for kind, pattern in TITLE_PERIODS:
                if re.search(pattern, text, re.IGNORECASE):
                    return {"type": kind, "source": "title", "pattern": pattern}
    return {"type": "THANG", "source": "option"}


def _subtotals(
    sheet: GridSheet,
    data_rows: list[int],
    code_col: int,
    name_col: int | None,
    stt_col: int | None,
    numeric_cols: list[int],
) -> list[dict[str, Any]]:
    """Rows without a code whose name says Tổng/Cộng and that hold numbers: subtotals of the rows
    after them (when coded rows follow) or of the rows before them."""
    if name_col is None:
        return []
    headings = [re.compile(h) for h in HEADINGS]
    following = preceding = 0
    for i, n in enumerate(data_rows):
        if _code_at(sheet, n, code_col):
            continue
        name = _text(sheet, {}, n, name_col) or ""
        if not re.search(SUBTOTAL_NAME, name, re.IGNORECASE):
            continue
        if not any(_is_number(c) for col, c in sheet.rows[n].items() if col in numeric_cols):
            continue
        nxt = data_rows[i + 1] if i + 1 < len(data_rows) else None
        prev = data_rows[i - 1] if i > 0 else None
        prev_is_heading = prev is None or any(
            h.match((_text(sheet, {}, prev, stt_col) if stt_col else "") or "") for h in headings
        )
        if nxt is not None and _code_at(sheet, nxt, code_col) and prev_is_heading:
            following += 1
        else:
            preceding += 1
    if not following and not preceding:
        return []
    return [
        {"marker": SUBTOTAL_NAME, "field": "name", "children": "following" if following >= preceding else "preceding"}
    ]
