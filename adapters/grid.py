"""Sheets as bounded grids of non-empty cells, streamed from XLSX (or a CSV file).

Reads: an XLSX workbook's structure, styles (each cell's font name), shared strings (rich-text runs in
legacy fonts decoded run by run) and each selected worksheet's XML, streamed with lxml's hardened
``iterparse``; a CSV file as one sheet. Keeps only non-empty cells, with their text exactly as
stored (a number's ``<v>`` text, never a float), and each sheet's merged ranges.

Why not openpyxl's read-only worksheets: they pad every row to the sheet's declared dimension and
yield every missing row, so a 653 KB workbook declaring ``A1:XFD1048576`` over a million empty rows
took 108 s and 7.7 GB. Here a missing row costs nothing, an empty row one C-level test, and every
sheet is bounded by ``Limits`` (rows, columns, non-empty cells, consecutive empty rows, and the
decompressed size of the file), each reached limit one ``ReadProblem`` naming it.

Quirks: a damaged archive or member is one problem naming the cause; what was read before the damage
stays read. Formulas are read as their cached values (a formula without one reads as blank).
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from lxml import etree

from adapters.base import ReadProblem, SourceRef
from adapters.legacy_text import decode_surface, from_font
from adapters.template_spec import Limits

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_V, _IS, _T, _R, _F = (f"{{{MAIN}}}{t}" for t in ("v", "is", "t", "r", "f"))
_ROW, _C, _MERGE = f"{{{MAIN}}}row", f"{{{MAIN}}}c", f"{{{MAIN}}}mergeCell"
_REF = re.compile(r"^([A-Z]{1,3})(\d{1,7})$")
_HAS_VALUE = etree.XPath("m:c[m:v or m:is]", namespaces={"m": MAIN})


def column_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def column_letter(index: int) -> str:
    out = ""
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def split_ref(ref: str) -> tuple[int, int]:
    """``F12`` -> (row 12, column 6)."""
    m = _REF.match(ref)
    if m is None:
        raise ValueError(f"not a cell reference: {ref!r}")
    return int(m[2]), column_index(m[1])


@dataclass(frozen=True, slots=True)
class GridCell:
    text: str  # as stored: a number's text, a string's characters (legacy runs already decoded)
    numeric: bool  # stored as a number
    font: str | None = None  # the cell's font name (legacy fonts: .VnTime, .VnTimeH, VNI-Times)
    decoded: bool = False  # rich-text runs in legacy fonts were decoded: the text is Unicode


@dataclass
class GridSheet:
    title: str
    rows: dict[int, dict[int, GridCell]] = field(default_factory=dict)  # non-empty rows only
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)  # min_row, min_col, max_row, max_col
    problems: list[ReadProblem] = field(default_factory=list)

    def anchors(self) -> dict[tuple[int, int], tuple[int, int]]:
        """Every covered cell of a merged range -> its anchor (top-left)."""
        out: dict[tuple[int, int], tuple[int, int]] = {}
        for r0, c0, r1, c1 in self.merged:
            if (r1 - r0 + 1) * (c1 - c0 + 1) > 100_000:
                continue  # a range over a whole sheet labels nothing; never expand it
            for r in range(r0, r1 + 1):
                for c in range(c0, c1 + 1):
                    if (r, c) != (r0, c0):
                        out[(r, c)] = (r0, c0)
        return out


class LimitReached(Exception):
    pass


class _Counted(io.RawIOBase):
    """A member stream that counts the bytes it gives against the file's decompressed budget."""

    def __init__(self, stream: IO[bytes], budget: list[int], limit: int) -> None:
        self._stream, self._budget, self._limit = stream, budget, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        self._budget[0] += len(data)
        if self._budget[0] > self._limit:
            raise LimitReached(f"decompressed size over limits.max_decompressed_bytes={self._limit}")
        buffer[: len(data)] = data
        return len(data)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=False)


DAMAGED: tuple[type[Exception], ...] = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    SyntaxError,  # lxml's XMLSyntaxError
    KeyError,
    ValueError,
    OSError,
)


class Workbook:
    """An XLSX file's structure: sheet titles and members, fonts per style, shared strings."""

    def __init__(self, zf: zipfile.ZipFile, limits: Limits) -> None:
        self.zf = zf
        self.limits = limits
        self.budget = [0]
        declared = sum(i.file_size for i in zf.infolist())
        if declared > limits.max_decompressed_bytes:
            raise LimitReached(
                f"the workbook declares {declared:,} bytes decompressed, over "
                f"limits.max_decompressed_bytes={limits.max_decompressed_bytes:,}"
            )
        names = set(zf.namelist())
        rels = self._rels("xl/_rels/workbook.xml.rels") if "xl/_rels/workbook.xml.rels" in names else {}
        root = self._xml("xl/workbook.xml")
        self.sheets: list[tuple[str, str]] = []
        for sheet in root.iter(f"{{{MAIN}}}sheet"):
            target = rels.get(sheet.get(f"{{{REL}}}id", ""), "")
            self.sheets.append((sheet.get("name", ""), target))
        shared = next((t for t in rels.values() if t.endswith("sharedStrings.xml")), "xl/sharedStrings.xml")
        self.strings: list[tuple[str, bool]] = self._strings(shared) if shared in names else []
        styles = next((t for t in rels.values() if t.endswith("styles.xml")), "xl/styles.xml")
        self.fonts: list[str | None] = self._fonts(styles) if styles in names else []

    def open(self, member: str) -> IO[bytes]:
        return io.BufferedReader(_Counted(self.zf.open(member), self.budget, self.limits.max_decompressed_bytes))

    def _xml(self, member: str) -> Any:
        with self.open(member) as stream:
            return etree.parse(stream, _parser()).getroot()

    def _rels(self, member: str) -> dict[str, str]:
        out = {}
        for rel in self._xml(member).iter(f"{{{PKG_REL}}}Relationship"):
            target = rel.get("Target", "")
            out[rel.get("Id", "")] = (
                target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
            )
        return out

    def _strings(self, member: str) -> list[tuple[str, bool]]:
        out: list[tuple[str, bool]] = []
        with self.open(member) as stream:
            for _, si in etree.iterparse(stream, tag=f"{{{MAIN}}}si", resolve_entities=False, no_network=True):
                out.append(rich_text(si))
                si.clear()
        return out

    def _fonts(self, member: str) -> list[str | None]:
        root = self._xml(member)
        names = []
        fonts = root.find(f"{{{MAIN}}}fonts")
        for font in fonts if fonts is not None else []:
            name = font.find(f"{{{MAIN}}}name")
            names.append(name.get("val") if name is not None else None)
        out: list[str | None] = []
        xfs = root.find(f"{{{MAIN}}}cellXfs")
        for xf in xfs if xfs is not None else []:
            fid = int(xf.get("fontId", "0") or 0)
            out.append(names[fid] if 0 <= fid < len(names) else None)
        return out


def rich_text(item: Any) -> tuple[str, bool]:
    """A string item (``<si>`` or ``<is>``): its text, and whether runs in legacy fonts were decoded
    (then the text is Unicode). Phonetic runs (``<rPh>``) are not text."""
    runs = item.findall(_R)
    if not runs:
        t = item.find(_T)
        return (t.text or "") if t is not None else "", False
    parts, legacy = [], False
    for run in runs:
        text = "".join(t.text or "" for t in run.findall(_T))
        font = run.find(f"{{{MAIN}}}rPr/{{{MAIN}}}rFont")
        detection = from_font(font.get("val") if font is not None else None)
        if detection is not None:
            legacy = True
            text = decode_surface(text, detection.encoding, uppercase=detection.uppercase)
        parts.append(text)
    return "".join(parts), legacy


def read_sheet(book: Workbook, title: str, member: str, source: str) -> GridSheet:
    """One worksheet, bounded by the limits; limit and damage problems are in ``sheet.problems``.

    After a limit stops the reading, the rest of the sheet is still scanned (without reading its
    cells) for the merged ranges, which the format puts after the rows, and, after a long run of
    empty rows, for values: trailing formatted rows are no problem, values past them are one."""
    lim = book.limits
    sheet = GridSheet(title)
    cells = 0
    last = 0  # the last row number seen
    empty_run = 0
    wide_reported = False
    stopped: str | None = None  # why rows are no longer read
    empty_from = 0
    stream = book.open(member)
    try:
        for _, el in etree.iterparse(
            stream, events=("end",), tag=(_ROW, _MERGE), resolve_entities=False, no_network=True, huge_tree=False
        ):
            if el.tag == _MERGE:
                _merge(sheet, el.get("ref", ""))
            elif stopped == "empty":
                if _HAS_VALUE(el):
                    number = int(el.get("r") or 0)
                    sheet.problems.append(
                        _limit(
                            source,
                            title,
                            number or None,
                            f"more than {lim.max_empty_rows:,} consecutive empty rows after row {empty_from:,}; "
                            "values after them are not read",
                            "max_empty_rows",
                            lim.max_empty_rows,
                        )
                    )
                    stopped = "reported"
            elif stopped is None:
                number = int(el.get("r") or last + 1)
                gap = number - last - 1
                last = number
                if not _HAS_VALUE(el):
                    empty_run += gap + 1
                    if empty_run > lim.max_empty_rows:
                        stopped, empty_from = "empty", number - empty_run
                else:
                    empty_run += gap
                    if empty_run > lim.max_empty_rows:
                        stopped, empty_from = "empty", number - empty_run - 1
                        sheet.problems.append(
                            _limit(
                                source,
                                title,
                                number,
                                f"more than {lim.max_empty_rows:,} consecutive empty rows after row {empty_from:,}; "
                                "values after them are not read",
                                "max_empty_rows",
                                lim.max_empty_rows,
                            )
                        )
                        stopped = "reported"
                    elif number > lim.max_rows:
                        sheet.problems.append(
                            _limit(
                                source,
                                title,
                                number,
                                f"row {number:,} is past the last row allowed",
                                "max_rows",
                                lim.max_rows,
                            )
                        )
                        stopped = "rows"
                    else:
                        empty_run = 0
                        row, wide = _row(el, book)
                        if wide is not None and wide > lim.max_columns:
                            if not wide_reported:
                                sheet.problems.append(
                                    _limit(
                                        source,
                                        title,
                                        number,
                                        f"a value in column {column_letter(wide)} (and maybe others) is not read",
                                        "max_columns",
                                        lim.max_columns,
                                        rest=False,
                                    )
                                )
                                wide_reported = True
                            row = {c: v for c, v in row.items() if c <= lim.max_columns}
                        cells += len(row)
                        if cells > lim.max_cells:
                            sheet.problems.append(
                                _limit(
                                    source,
                                    title,
                                    number,
                                    f"more than {lim.max_cells:,} non-empty cells",
                                    "max_cells",
                                    lim.max_cells,
                                )
                            )
                            stopped = "cells"
                        elif row:
                            sheet.rows[number] = row
            el.clear()
            parent = el.getparent()
            if parent is not None:
                while el.getprevious() is not None:
                    del parent[0]
    except LimitReached as exc:
        sheet.problems.append(
            ReadProblem(SourceRef(source, title), f"limit reached: {exc}; the rest of the workbook is not read")
        )
    except DAMAGED as exc:
        sheet.problems.append(ReadProblem(SourceRef(source, title), f"sheet is damaged ({type(exc).__name__}: {exc})"))
    finally:
        stream.close()
    return sheet


def _limit(source: str, title: str, row: int | None, what: str, key: str, value: int, rest: bool = True) -> ReadProblem:
    return ReadProblem(
        SourceRef(source, title, row),
        f"limit reached: {what} (limits.{key}={value:,})"
        + ("; the rest of the sheet is not read" if rest else "")
        + f". If the sheet really is that large, raise limits.{key} in the template layout",
    )


def _merge(sheet: GridSheet, ref: str) -> None:
    if ":" not in ref:
        return
    try:
        (r0, c0), (r1, c1) = (split_ref(part) for part in ref.split(":", 1))
    except ValueError:
        return
    sheet.merged.append((min(r0, r1), min(c0, c1), max(r0, r1), max(c0, c1)))


def _row(el: Any, book: Workbook) -> tuple[dict[int, GridCell], int | None]:
    """A row's non-empty cells by column, and the widest column holding a value."""
    out: dict[int, GridCell] = {}
    col = 0
    widest = None
    for c in el.iterchildren(_C):
        ref = c.get("r")
        if ref:
            m = _REF.match(ref)
            col = column_index(m[1]) if m else col + 1
        else:
            col += 1
        kind = c.get("t", "n")
        style = int(c.get("s", "0") or 0)
        font = book.fonts[style] if 0 <= style < len(book.fonts) else None
        cell: GridCell | None = None
        if kind == "inlineStr":
            item = c.find(_IS)
            if item is not None:
                text, decoded = rich_text(item)
                cell = GridCell(text, False, font, decoded)
        else:
            v = c.find(_V)
            if v is None or v.text is None:
                continue
            text = v.text
            if kind == "s":
                try:
                    text, decoded = book.strings[int(text)]
                except (ValueError, IndexError):
                    text, decoded = f"#REF! (shared string {text} missing)", False
                cell = GridCell(text, False, font, decoded)
            elif kind in ("str", "e"):
                cell = GridCell(text, False, font)
            elif kind == "b":
                cell = GridCell("TRUE" if text.strip() == "1" else "FALSE", False, font)
            else:
                cell = GridCell(text.strip(), True, font)
        if cell is not None and cell.text != "":
            out[col] = cell
            widest = col
    return out, widest


def xlsx_sheets(path: Path, limits: Limits, wanted: Callable[[str], bool]) -> Iterator[GridSheet | ReadProblem]:
    """Each wanted sheet as a bounded grid, or one problem when the file cannot be read."""
    source = str(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        yield ReadProblem(SourceRef(source), f"cannot open ({exc.strerror})")
        return
    with handle:
        try:
            zf = zipfile.ZipFile(handle)
        except DAMAGED as exc:
            yield ReadProblem(SourceRef(source), f"not a readable XLSX workbook ({type(exc).__name__}: {exc})")
            return
        with zf:
            try:
                book = Workbook(zf, limits)
            except LimitReached as exc:
                yield ReadProblem(SourceRef(source), f"limit reached: {exc}; the workbook is not read")
                return
            except DAMAGED as exc:
                yield ReadProblem(SourceRef(source), f"not a readable XLSX workbook ({type(exc).__name__}: {exc})")
                return
            for title, member in book.sheets:
                if not wanted(title):
                    continue
                if member not in zf.namelist():
                    yield ReadProblem(
                        SourceRef(source, title), f"workbook is damaged: sheet member {member!r} is missing"
                    )
                    continue
                sheet = read_sheet(book, title, member, source)
                yield sheet
                if any("the rest of the workbook" in p.reason for p in sheet.problems):
                    return


def sheet_titles(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        return [t for t, _ in Workbook(zf, Limits()).sheets]
