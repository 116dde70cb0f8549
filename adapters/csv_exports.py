"""CSV exports from older provincial systems, one value per row (``adapters.long_format``).

Reads: a CSV file, streamed row by row. Encoding: a BOM says UTF-8 or UTF-16; otherwise UTF-8 when
the file decodes as such; otherwise the legacy encoding that reads most like Vietnamese (TCVN3 or VNI
text read byte for byte, or Windows-1258), reported with its confidence; an explicit ``encoding``
overrides detection. Delimiter: sniffed among ``,`` ``;`` tab and ``|`` unless given.
Config: ``CsvLayout`` (encoding, delimiter, the long-format field names).
Quirks: a row with the wrong number of fields, or bytes that do not decode, is one ``ReadProblem``
naming the line; nothing is skipped silently.
"""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

from adapters.base import Blank, ReadItem, ReadProblem, SourceRef
from adapters.legacy_text import Encoding, decode_surface, detect_bytes, unsure_message
from adapters.long_format import LongFormat

if TYPE_CHECKING:
    # A template's CSV export is read as a grid (``csv_sheet``); a long-format CSV never needs the
    # grid reader (lxml) or the layouts' models, so they are imported there (issue 19: start-up).
    from adapters.grid import GridSheet
    from adapters.template_spec import Limits

SAMPLE = 256 * 1024


@dataclass(frozen=True)
class CsvLayout:
    encoding: str | None = None  # utf-8, utf-16, cp1258, tcvn3, vni, viscii; None = detect
    delimiter: str | None = None
    fields: LongFormat = field(default_factory=LongFormat)


@dataclass(frozen=True)
class CsvEncoding:
    codec: str  # how bytes become characters
    legacy: Encoding | None  # then how legacy surface characters become Unicode
    confidence: float
    method: str
    unsure: str | None = None  # detection refused: the problem to report instead of reading


def utf16_without_bom(head: bytes) -> str | None:
    """``utf-16-le`` or ``utf-16-be`` for UTF-16 text written without a byte-order mark (Windows
    tools do), told by where the zero bytes of its ASCII characters fall; None when it is not that.
    A CSV export is mostly ASCII (codes, digits, separators), so one half of its bytes is zero."""
    pairs = len(head) // 2
    if pairs < 8:
        return None
    even = head[0 : pairs * 2 : 2].count(0)
    odd = head[1 : pairs * 2 : 2].count(0)
    if odd > pairs * 0.3 and even < pairs * 0.05:
        return "utf-16-le"
    if even > pairs * 0.3 and odd < pairs * 0.05:
        return "utf-16-be"
    return None


def detect_encoding(head: bytes) -> CsvEncoding:
    if head.startswith(codecs.BOM_UTF8):
        return CsvEncoding("utf-8-sig", None, 1.0, "bom")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return CsvEncoding("utf-16", None, 1.0, "bom")
    if (order := utf16_without_bom(head)) is not None:
        return CsvEncoding(order, None, 0.95, "zero bytes")
    try:
        head.decode("utf-8")
        return CsvEncoding("utf-8", None, 1.0, "utf-8")
    except UnicodeDecodeError as exc:
        if exc.start > len(head) - 4:  # a character cut by the sample's end, not a bad byte
            return CsvEncoding("utf-8", None, 0.9, "utf-8")
    _, detection = detect_bytes(head)
    if detection.method == "content" and not detection.sure:
        hint = "give the file's encoding (ingest --encoding tcvn3|vni|viscii|cp1258)"
        return CsvEncoding("latin-1", None, detection.confidence, "unsure", unsure_message(detection, hint=hint))
    if detection.encoding == "cp1258":
        return CsvEncoding("cp1258", None, detection.confidence, detection.method)
    if detection.encoding in ("tcvn3", "vni", "viscii"):
        return CsvEncoding("latin-1", detection.encoding, detection.confidence, detection.method)
    return CsvEncoding("cp1258", None, 0.5, "fallback")


class CsvReader:
    name = "csv"

    def __init__(self, path: Path, layout: CsvLayout | None = None) -> None:
        self.path = path
        self.source = str(path)
        self.layout = layout or CsvLayout()
        self.encoding: CsvEncoding | None = None

    def _encoding(self, head: bytes) -> CsvEncoding:
        chosen = self.layout.encoding
        if chosen is None:
            return detect_encoding(head)
        legacy = {"tcvn3": "tcvn3", "vni": "vni", "viscii": "viscii"}.get(chosen)
        if legacy is not None:
            return CsvEncoding("latin-1", cast(Encoding, legacy), 1.0, "explicit")
        if chosen == "utf-16" and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            # "utf-16" needs a byte-order mark to know the byte order; without one, find it (else the
            # decoder's "does not start with BOM" is reported as the problem, naming the file).
            chosen = utf16_without_bom(head) or chosen
        return CsvEncoding(chosen, None, 1.0, "explicit")

    def read(self) -> Iterator[ReadItem]:
        try:
            raw = self.path.open("rb")
        except OSError as exc:
            yield ReadProblem(SourceRef(self.source), f"cannot open ({exc.strerror})")
            return
        with raw:
            head = raw.read(SAMPLE)
            raw.seek(0)
            self.encoding = enc = self._encoding(head)
            if enc.unsure:
                yield ReadProblem(SourceRef(self.source), enc.unsure)
                return
            text = _decoded_lines(raw, enc.codec)
            delimiter = self.layout.delimiter or _sniff(head.decode(enc.codec, errors="replace"))

            def convert(value: str) -> str:
                return decode_surface(value, enc.legacy) if enc.legacy else value

            records = csv_records(text, delimiter, self.source, enc.codec)
            first = next(records, None)
            if first is None:
                yield ReadProblem(SourceRef(self.source), "empty file: no header row")
                return
            if isinstance(first, ReadProblem):
                yield first
                return
            header = [convert(h).strip().lstrip("\ufeff") for h in first[1]]
            item = self.layout.fields.for_header(header)
            for record in records:
                if isinstance(record, ReadProblem):
                    yield record
                    continue
                line, row = record
                ref = SourceRef(self.source, row=line)
                if not "".join(row).strip():
                    if len(row) > 1:
                        # ",,,,," is a record with every field empty (a spreadsheet's blank row
                        # saved as CSV): counted as a blank, so the file's counts add up; an empty
                        # line is not a record at all.
                        yield Blank(ref)
                    continue
                if len(row) != len(header):
                    yield ReadProblem(
                        ref,
                        f"{len(row)} fields, the header has {len(header)}",
                        {"fields": [convert(c) for c in row][:20]},
                    )
                    continue
                yield item(list(map(convert, row)) if enc.legacy else row, ref)


def csv_records(
    text: Iterator[str], delimiter: str, source: str, codec: str
) -> Iterator[tuple[int, list[str]] | ReadProblem]:
    """CSV records with the line each starts on, or problems naming their line.

    Strict quoting: a quote left open runs to the end of the file and is reported with the line it
    was opened on (the lenient default swallowed the lines after it into one field, silently); a
    stray character after a closing quote is reported and reading goes on with the next record. A
    record spread over several lines is accepted (quoted line breaks are legal CSV), and its location
    is the line it starts on."""
    reader = csv.reader(text, delimiter=delimiter, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except (_BadBytes, UnicodeError) as exc:  # UnicodeError: "UTF-16 stream does not start with BOM"
            where = exc.line if isinstance(exc, _BadBytes) else start
            yield ReadProblem(
                SourceRef(source, row=where),
                f"bytes do not decode as {codec} ({exc}); the rest of the file "
                "is not read: fix the encoding and read it again",
            )
            return
        except csv.Error as exc:
            if "unexpected end of data" in str(exc) or "EOF" in str(exc):
                yield ReadProblem(
                    SourceRef(source, row=start),
                    f"unterminated quote: a quoted field opened on line {start} is never closed, so lines "
                    f"{start}-{reader.line_num} are not read; close the quote and read the file again",
                )
                return
            yield ReadProblem(SourceRef(source, row=start), f"malformed CSV on line {start}: {exc}")
            continue
        yield start, row


class _BadBytes(ValueError):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line


def _nfc(line: str) -> str:
    """A line in Unicode NFC (TCVN 6909:2001): Windows-1258 writes tones as combining marks, and a
    decomposed (NFD) UTF-8 export exists too; every field read from it is then NFC, as the workbook
    readers' are (a unit read ``ngươ\u0300i`` in the dry run; found by an outside test)."""
    return line if unicodedata.is_normalized("NFC", line) else unicodedata.normalize("NFC", line)


def _decoded_lines(raw: io.BufferedReader, codec: str) -> Iterator[str]:
    """Lines as NFC text, decoded one by one so a bad byte is reported with its line (UTF-16
    excepted: its newlines are two bytes wide, so it is decoded as a stream)."""
    if codec.startswith("utf-16"):
        wrapper = io.TextIOWrapper(raw, encoding=codec, errors="strict", newline="")
        try:
            yield from map(_nfc, wrapper)
        finally:
            wrapper.detach()  # the caller owns and closes the file
        return
    for number, line in enumerate(raw, start=1):
        try:
            yield _nfc(line.decode(codec))
        except UnicodeDecodeError as exc:
            raise _BadBytes(number, f"byte 0x{line[exc.start]:02x} at column {exc.start + 1}: {exc.reason}") from exc


def _sniff(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample[:65536], delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def csv_sheet(
    path: Path, limits: Limits, encoding: str | None = None, delimiter: str | None = None
) -> GridSheet | ReadProblem:
    """A CSV export of a report template (the same grid as its workbook, one sheet named after the
    file), bounded like a worksheet: rows, fields per row, non-empty cells, consecutive empty rows
    and the file's size (``max_decompressed_bytes``)."""
    from adapters.grid import GridCell, GridSheet

    source = str(path)
    try:
        raw = path.open("rb")
    except OSError as exc:
        return ReadProblem(SourceRef(source), f"cannot open ({exc.strerror})")
    with raw:
        size = path.stat().st_size
        if size > limits.max_decompressed_bytes:
            return ReadProblem(
                SourceRef(source),
                f"limit reached: the file has {size:,} bytes, over limits.max_decompressed_bytes="
                f"{limits.max_decompressed_bytes:,}; the file is not read",
            )
        head = raw.read(SAMPLE)
        raw.seek(0)
        enc = CsvReader(path, CsvLayout(encoding=encoding))._encoding(head)
        if enc.unsure:
            return ReadProblem(SourceRef(source), enc.unsure)
        sep = delimiter or _sniff(head.decode(enc.codec, errors="replace"))
        sheet = GridSheet(path.stem)
        cells = empty = 0
        for record in csv_records(_decoded_lines(raw, enc.codec), sep, source, enc.codec):
            if isinstance(record, ReadProblem):
                sheet.problems.append(record)
                continue
            line, row = record
            values = {
                col: GridCell(decode_surface(v, enc.legacy) if enc.legacy else v, False, decoded=True)
                for col, v in enumerate(row, start=1)
                if v.strip()
            }
            if not values:
                empty += 1
                if empty > limits.max_empty_rows:
                    sheet.problems.append(
                        _csv_limit(
                            source,
                            line,
                            f"more than {limits.max_empty_rows:,} consecutive empty lines",
                            "max_empty_rows",
                            limits.max_empty_rows,
                        )
                    )
                    break
                continue
            empty = 0
            if line > limits.max_rows:
                sheet.problems.append(
                    _csv_limit(source, line, f"line {line:,} is past the last row allowed", "max_rows", limits.max_rows)
                )
                break
            if max(values) > limits.max_columns:
                sheet.problems.append(
                    _csv_limit(source, line, f"{len(row):,} fields", "max_columns", limits.max_columns)
                )
                break
            cells += len(values)
            if cells > limits.max_cells:
                sheet.problems.append(
                    _csv_limit(
                        source, line, f"more than {limits.max_cells:,} non-empty cells", "max_cells", limits.max_cells
                    )
                )
                break
            sheet.rows[line] = values
        return sheet


def _csv_limit(source: str, line: int, what: str, key: str, value: int) -> ReadProblem:
    return ReadProblem(
        SourceRef(source, row=line),
        f"limit reached: {what} (limits.{key}={value:,}); the rest of the file is not read. "
        f"If the file really is that large, raise limits.{key} in the template layout",
    )
