"""Sheets as bounded grids of non-empty cells, streamed from XLSX (or a CSV file).

Reads: an XLSX workbook's structure, styles (each cell's font name), shared strings (rich-text runs in
legacy fonts decoded run by run) and each selected worksheet's XML, streamed through the gateway's
one XML guard (``gateway.packets.safe``: no DTD, no entity, no network, in any encoding and at any
offset; a part that declares one is refused, naming the part); a CSV file as one sheet. Keeps only
non-empty cells, with their text exactly as stored (a number's ``<v>`` text, never a float), and
each sheet's merged ranges.

Why not openpyxl's read-only worksheets: they pad every row to the sheet's declared dimension and
yield every missing row, so a 653 KB workbook declaring ``A1:XFD1048576`` over a million empty rows
took 108 s and 7.7 GB. Here a missing row costs nothing, an empty row one C-level test, and every
sheet is bounded by ``Limits`` (rows, columns, non-empty cells, consecutive empty rows, and the
decompressed size of the file), each reached limit one ``ReadProblem`` naming it.

Quirks: a damaged archive or member is one problem naming the cause; what was read before the damage
stays read. Formulas are read as their cached values; a formula without one (a workbook written by a
program that does not compute, never opened in Excel or LibreOffice since) is a cell of its own kind,
``uncached``, holding the formula: it used to read as blank, as if the commune had not reported.
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
from gateway.errors import InputError, UnsafeInputError
from gateway.packets import safe

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
STRICT_MAIN = "http://purl.oclc.org/ooxml/spreadsheetml/main"
"""ISO 29500 Strict (Excel's "Strict Open XML Spreadsheet"): the same parts under other namespaces,
which a reader looking for the transitional ones finds nothing in."""
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_V, _IS, _T, _R, _F = (f"{{{MAIN}}}{t}" for t in ("v", "is", "t", "r", "f"))
_ROW, _C, _MERGE = f"{{{MAIN}}}row", f"{{{MAIN}}}c", f"{{{MAIN}}}mergeCell"
_REF = re.compile(r"^([A-Z]{1,3})(\d{1,7})$")
_HAS_VALUE = etree.XPath("m:c[m:v or m:is or m:f]", namespaces={"m": MAIN})


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
    uncached: bool = False  # a formula with no saved result: ``text`` is the formula, there is no value
    percent: bool = False  # a number shown as a percentage: 0.125 stored, "12.5%" seen (``number_text``)


@dataclass(frozen=True)
class HiddenSheet:
    """A sheet the workbook hides (``state="hidden"`` or ``"veryHidden"``), not read: provinces' templates
    hide lookup lists, old versions of a table and working copies there, none of which is the report a
    person sees. Each reader says it was skipped; a layout that names the sheet reads it."""

    title: str
    state: str

    def reason(self) -> str:
        return (
            f"sheet is {self.state} in the workbook: not read (its values are not what the report shows); "
            "name it in the layout's sheets.names to read it"
        )


MAX_COVERED = 2_000_000
"""Cells covered by merged ranges that are looked at, per sheet (hostile merges cost no more)."""


@dataclass
class GridSheet:
    title: str
    rows: dict[int, dict[int, GridCell]] = field(default_factory=dict)  # non-empty rows only
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)  # min_row, min_col, max_row, max_col
    problems: list[ReadProblem] = field(default_factory=list)

    def anchors(self) -> dict[tuple[int, int], tuple[int, int]]:
        """Every covered cell of a merged range -> its anchor (top-left)."""
        out: dict[tuple[int, int], tuple[int, int]] = {}
        budget = MAX_COVERED
        for r0, c0, r1, c1 in self.merged:
            size = (r1 - r0 + 1) * (c1 - c0 + 1)
            if size > 100_000 or size > budget:
                continue  # a range over a whole sheet labels nothing; never expand it
            budget -= size
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


DAMAGED: tuple[type[Exception], ...] = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    SyntaxError,  # lxml's XMLSyntaxError
    InputError,  # malformed XML, as the guard (gateway.packets.safe) reports it
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
        self._package(names)
        rels = self._rels("xl/_rels/workbook.xml.rels") if "xl/_rels/workbook.xml.rels" in names else {}
        root = self._xml("xl/workbook.xml")
        if isinstance(root.tag, str) and root.tag.startswith(f"{{{STRICT_MAIN}}}"):
            # Read as transitional, every sheet was empty: "read 0, problems 0" (found from outside).
            raise ValueError(
                "the workbook is saved as Strict Open XML, which is not read; open it and save it as "
                '"Excel Workbook (.xlsx)"'
            )
        self.sheets: list[tuple[str, str]] = []
        self.hidden: dict[str, str] = {}  # title -> state, for sheets the workbook hides
        for sheet in root.iter(f"{{{MAIN}}}sheet"):
            target = rels.get(sheet.get(f"{{{REL}}}id", ""), "")
            self.sheets.append((sheet.get("name", ""), target))
            state = sheet.get("state")
            if state is not None and state.strip().lower() != "visible":  # "hidden", "veryHidden", or odder
                self.hidden[sheet.get("name", "")] = state
        shared = next((t for t in rels.values() if t.endswith("sharedStrings.xml")), "xl/sharedStrings.xml")
        self.strings: list[tuple[str, bool]] = self._strings(shared) if shared in names else []
        styles = next((t for t in rels.values() if t.endswith("styles.xml")), "xl/styles.xml")
        self.fonts: list[str | None] = []
        self.percent: list[bool] = []  # per cell style: its number format shows a percentage
        if styles in names:
            self._styles(styles)

    def _package(self, names: set[str]) -> None:
        """The package parts every reader relies on are well-formed: a workbook whose content types or
        properties are damaged is refused as Excel refuses it (``ValueError``), not half-trusted."""
        if "[Content_Types].xml" not in names:
            raise KeyError("[Content_Types].xml is missing: not an Office Open XML package")
        types = self._xml("[Content_Types].xml")
        for part in types:
            if isinstance(part.tag, str) and part.get("ContentType") is None:
                raise ValueError(f"[Content_Types].xml: a {etree.QName(part).localname} without ContentType")
        if "docProps/core.xml" in names:
            self._xml("docProps/core.xml")

    def open(self, member: str) -> IO[bytes]:
        return io.BufferedReader(_Counted(self.zf.open(member), self.budget, self.limits.max_decompressed_bytes))

    def source(self, member: str) -> str:
        return f"{self.zf.filename or 'workbook'}:{member}"

    def _xml(self, member: str) -> Any:
        with self.open(member) as stream:
            return safe.parse_xml(stream.read(), self.source(member), comments=True)

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
            for si in safe.iter_xml(stream, self.source(member), tag=f"{{{MAIN}}}si"):
                out.append(rich_text(si))
                si.clear()
        return out

    def _styles(self, member: str) -> None:
        """Each cell style's font name, and whether its number format is a percentage (the built-in
        formats 9 and 10, or a custom code with a ``%`` outside quotes): such a cell stores 0.125 and
        shows, and means, 12.5%."""
        root = self._xml(member)
        names = []
        fonts = root.find(f"{{{MAIN}}}fonts")
        for font in fonts if fonts is not None else []:
            name = font.find(f"{{{MAIN}}}name")
            names.append(name.get("val") if name is not None else None)
        percent_ids = {9, 10}
        formats = root.find(f"{{{MAIN}}}numFmts")
        for fmt in formats if formats is not None else []:
            if _is_percent_format(fmt.get("formatCode", "")):
                percent_ids.add(_int(fmt.get("numFmtId")))
        xfs = root.find(f"{{{MAIN}}}cellXfs")
        for xf in xfs if xfs is not None else []:
            fid = _int(xf.get("fontId"))
            self.fonts.append(names[fid] if 0 <= fid < len(names) else None)
            self.percent.append(_int(xf.get("numFmtId")) in percent_ids)


def _int(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return -1


_QUOTED = re.compile(r'"[^"]*"|\\.|\[[^\]]*\]')


def _is_percent_format(code: str) -> bool:
    """A number format code shows a percentage: a ``%`` in its first section that is neither quoted
    text, an escaped character nor inside a ``[colour]``/``[condition]`` bracket."""
    first = _QUOTED.sub("", code).split(";", 1)[0]
    return "%" in first


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


_SCAN_VALUE = re.compile(rb"<(?:\w+:)?(?:v|is)[\s>]")
_SCAN_MERGE = re.compile(rb"<(?:\w+:)?mergeCell\s+ref=\"([A-Z]{1,3}\d{1,7}:[A-Z]{1,3}\d{1,7})\"")
CHUNK = 1 << 16


class _SheetStream:
    """One worksheet's rows through a pull parser fed by chunks, so that once a limit stops the
    reading the rest of the member is only scanned as bytes (merged ranges, values after a run of
    empty rows), at C speed, instead of being parsed row by row."""

    def __init__(self, book: Workbook, title: str, source: str) -> None:
        self.book, self.lim = book, book.limits
        self.sheet = GridSheet(title)
        self.source = source
        self.cells = self.last = self.empty_run = self.empty_from = 0
        self.wide_reported = False
        self.stopped: str | None = None  # why rows are no longer read

    def limit(self, row: int | None, what: str, key: str, value: int, rest: bool = True) -> None:
        self.sheet.problems.append(_limit(self.source, self.sheet.title, row, what, key, value, rest))

    def empty_limit(self, row: int | None) -> None:
        self.limit(
            row,
            f"more than {self.lim.max_empty_rows:,} consecutive empty rows after row {self.empty_from:,}; "
            "values after them are not read",
            "max_empty_rows",
            self.lim.max_empty_rows,
        )
        self.stopped = "reported"

    def row(self, el: Any) -> None:
        lim = self.lim
        number = int(el.get("r") or self.last + 1)
        gap = number - self.last - 1
        self.last = number
        if len(el) == 0 or not _HAS_VALUE(el):
            self.empty_run += gap + 1
            if self.empty_run > lim.max_empty_rows:
                self.stopped, self.empty_from = "empty", number - self.empty_run
            return
        self.empty_run += gap
        if self.empty_run > lim.max_empty_rows:
            self.empty_from = number - self.empty_run - 1
            self.empty_limit(number)
            return
        if number > lim.max_rows:
            self.limit(number, f"row {number:,} is past the last row allowed", "max_rows", lim.max_rows)
            self.stopped = "rows"
            return
        self.empty_run = 0
        cells, wide = _row(el, self.book)
        if wide is not None and wide > lim.max_columns:
            if not self.wide_reported:
                what = f"a value in column {column_letter(wide)} (and maybe others) is not read"
                self.limit(number, what, "max_columns", lim.max_columns, rest=False)
                self.wide_reported = True
            cells = {c: v for c, v in cells.items() if c <= lim.max_columns}
        self.cells += len(cells)
        if self.cells > lim.max_cells:
            self.limit(number, f"more than {lim.max_cells:,} non-empty cells", "max_cells", lim.max_cells)
            self.stopped = "cells"
        elif cells:
            self.sheet.rows[number] = cells

    def scan(self, data: bytes) -> None:
        """Bytes after the stop: merged ranges, and values when a run of empty rows stopped us."""
        for m in _SCAN_MERGE.finditer(data):
            _merge(self.sheet, m[1].decode())
        if self.stopped == "empty" and _SCAN_VALUE.search(data):
            self.empty_limit(None)

    def read(self, stream: IO[bytes], member: str) -> None:
        parser = safe.XmlStream(self.book.source(member), events=("end",), tag=(_ROW, _MERGE))
        carry = b""
        while chunk := stream.read(CHUNK):
            if self.stopped is not None:
                data = carry + chunk
                self.scan(data)
                carry = data[-300:] if not data.endswith(b">") else b""
                continue
            parser.feed(chunk)
            for _, el in parser.read_events():
                if el.tag == _MERGE:
                    _merge(self.sheet, el.get("ref", ""))
                elif self.stopped is None:
                    self.row(el)
                elif self.stopped == "empty" and len(el) and _HAS_VALUE(el):
                    self.empty_limit(int(el.get("r") or 0) or None)
                el.clear()
                parent = el.getparent()
                if parent is not None:
                    while el.getprevious() is not None:
                        del parent[0]
        if self.stopped is None:
            parser.close()


def read_sheet(book: Workbook, title: str, member: str, source: str) -> GridSheet:
    """One worksheet, bounded by the limits; limit and damage problems are in ``sheet.problems``.

    After a limit stops the reading, the rest of the sheet is still scanned (without reading its
    cells) for the merged ranges, which the format puts after the rows, and, after a long run of
    empty rows, for values: trailing formatted rows are no problem, values past them are one."""
    reading = _SheetStream(book, title, source)
    stream = book.open(member)
    try:
        reading.read(stream, member)
    except UnsafeInputError as exc:
        reading.sheet.problems.append(ReadProblem(SourceRef(source, title), f"refused: {exc}"))
    except LimitReached as exc:
        reading.sheet.problems.append(
            ReadProblem(SourceRef(source, title), f"limit reached: {exc}; the rest of the workbook is not read")
        )
    except DAMAGED as exc:
        reading.sheet.problems.append(
            ReadProblem(SourceRef(source, title), f"sheet is damaged ({type(exc).__name__}: {exc})")
        )
    finally:
        stream.close()
    return reading.sheet


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
                formula = c.find(_F)
                if formula is not None and (formula.text or "").strip():
                    out[col] = GridCell("=" + formula.text.strip(), False, font, uncached=True)
                    widest = col
                continue
            text = v.text
            if kind == "s":
                try:
                    index = int(text)
                    if index < 0:
                        raise IndexError(index)
                    text, decoded = book.strings[index]
                except (ValueError, IndexError):
                    text, decoded = f"#REF! (shared string {text} missing)", False
                cell = GridCell(text, False, font, decoded)
            elif kind in ("str", "e"):
                cell = GridCell(text, False, font)
            elif kind == "b":
                cell = GridCell("TRUE" if text.strip() == "1" else "FALSE", False, font)
            else:
                percent = 0 <= style < len(book.percent) and book.percent[style]
                cell = GridCell(text.strip(), True, font, percent=percent)
        if cell is not None and cell.text != "":
            out[col] = cell
            widest = col
    return out, widest


def xlsx_sheets(
    path: Path, limits: Limits, wanted: Callable[[str], bool], *, read_hidden: Callable[[str], bool] = lambda _t: False
) -> Iterator[GridSheet | HiddenSheet | ReadProblem]:
    """Each wanted sheet as a bounded grid, or one problem when the file cannot be read. A hidden
    sheet is a ``HiddenSheet``, not read, unless ``read_hidden`` says so for its title."""
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
            except UnsafeInputError as exc:
                yield ReadProblem(SourceRef(source), f"refused: {exc}; the workbook is not read")
                return
            except DAMAGED as exc:
                yield ReadProblem(SourceRef(source), f"not a readable XLSX workbook ({type(exc).__name__}: {exc})")
                return
            if not book.sheets:  # never read as nothing: a workbook with no sheet says so
                yield ReadProblem(SourceRef(source), "the workbook lists no sheets (xl/workbook.xml): nothing is read")
                return
            for title, member in book.sheets:
                if not wanted(title):
                    continue
                if title in book.hidden and not read_hidden(title):
                    yield HiddenSheet(title, book.hidden[title])
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
