"""Cross-field rules of the profile that a schema cannot express.

Each rule yields ``(path, message)`` with ``path`` in canonical names; ``gateway.packets.validate``
turns the path into a JSON pointer or XPath under the active profile. Rules never stop at the first
problem.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import re
import unicodedata
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from gateway.packets import model as m

Path = tuple[str | int, ...]

_NUMBER_RANGE: dict[m.PeriodType, tuple[int, int]] = {
    m.PeriodType.NGAY: (1, 366),
    m.PeriodType.TUAN: (1, 53),
    m.PeriodType.THANG: (1, 12),
    m.PeriodType.QUY: (1, 4),
    m.PeriodType.SAU_THANG: (1, 2),
    m.PeriodType.CHIN_THANG: (1, 1),
    m.PeriodType.NAM: (1, 1),
    m.PeriodType.DOT_XUAT: (1, 366),
}

_REASON_REQUIRED = {m.ReportStatus.TRA_LAI, m.ReportStatus.TU_CHOI, m.ReportStatus.YEU_CAU_DINH_CHINH}


def last_month(period: m.Period) -> int | None:
    """The calendar month the period's data window must end in, or None when any date is allowed."""
    t, n = period.period_type, period.number
    return {
        m.PeriodType.THANG: n,
        m.PeriodType.QUY: 3 * n,
        m.PeriodType.SAU_THANG: 6 * n,
        m.PeriodType.CHIN_THANG: 9,
        m.PeriodType.NAM: 12,
    }.get(t)


def check_period(period: m.Period, path: Path) -> Iterator[tuple[Path, str]]:
    low, high = _NUMBER_RANGE[period.period_type]
    if not low <= period.number <= high:
        yield (
            path + ("number",),
            f"period number {period.number} is out of range {low}-{high} for {period.period_type.value}",
        )
    if period.start > period.end:
        yield path + ("start",), f"period starts ({period.start}) after it ends ({period.end})"
    in_year = _periods_in(period.period_type, period.year)
    if in_year is not None and low <= period.number <= high and period.number > in_year:
        unit = "ISO weeks" if period.period_type is m.PeriodType.TUAN else "days"
        yield path + ("number",), f"{period.key}: {period.year} has {in_year} {unit}"
    month = last_month(period)
    if (
        month is not None
        and low <= period.number <= high
        and (period.end.year != period.year or period.end.month != month)
    ):
        yield (
            path + ("end",),
            (f"{period.end} is not in the last month of {period.key} (expected {period.year}-{month:02d})"),
        )


def _periods_in(period_type: m.PeriodType, year: int) -> int | None:
    """Weeks (ISO 8601: 52 or 53) and days (365 or 366) depend on the year: 2027-TUAN-53 and
    2026-NGAY-366 are in the type's range, not in that year (as ingest and the CLI already refuse)."""
    if period_type is m.PeriodType.TUAN:
        return date(year, 12, 28).isocalendar().week
    if period_type is m.PeriodType.NGAY:
        return 366 if calendar.isleap(year) else 365
    return None


TIMES = (date(2000, 1, 1), date(2100, 12, 31))
"""When a packet's own times (ThoiGianTao, ThoiGianGui, ThoiGian) may fall: the years the calendar has
holidays for, with room. A status given in year 1 at +14:00 could not even be turned into UTC (a 500
on the intake, found from outside); one dated 9999 would rank above every later status."""


def check_times(envelope: m.Envelope) -> Iterator[tuple[Path, str]]:
    body = envelope.body
    found: list[tuple[Path, datetime]] = [(("created_at",), envelope.created_at)]
    for name in ("sent_at", "at"):
        value = getattr(body, name, None)
        if isinstance(value, datetime):
            found.append((("body", name), value))
    low, high = TIMES
    for path, value in found:
        if not low <= value.date() <= high:
            yield path, f"{value.isoformat()} is not a time a packet is made at (years {low.year}-{high.year})"


_VIETNAMESE_LATIN1 = set("àáâãèéêìíòóôõùúýÀÁÂÃÈÉÊÌÍÒÓÔÕÙÚÝ")
_HARMLESS = set("°±×÷")
LEGACY_MARKERS = frozenset(chr(c) for c in range(0xA1, 0x100)) - _VIETNAMESE_LATIN1 - _HARMLESS
"""Latin-1 characters Vietnamese Unicode text does not use, but TCVN3 (ABC) and VNI text shows when
read as Windows-1252: TCVN3 ``ViÖt``, ``Ph©n tæ``; VNI ``Vieät``, ``ñoäc``."""


_MARKER_CLASS = "[" + re.escape("".join(sorted(LEGACY_MARKERS))) + "]"
_ANY_MARKER = re.compile(_MARKER_CLASS)
_LEGACY_IN_WORD = re.compile(rf"(?<=[^\W\d_]){_MARKER_CLASS}|{_MARKER_CLASS}(?=[^\W\d_])")


def legacy_font_suspect(text: str) -> str | None:
    """The first legacy-font marker that sits inside a word, or None. A heuristic: a marker next to a
    letter is how TCVN3/VNI text looks when it was never converted; a lone symbol (``©``) is not."""
    found = _LEGACY_IN_WORD.search(text)
    return found.group(0) if found else None


def _utf8_class(chars: frozenset[str], lead: int) -> re.Pattern[bytes]:
    tails = bytes(sorted(c.encode("utf-8")[1] for c in chars if c.encode("utf-8")[0] == lead))
    return re.compile(re.escape(bytes([lead])) + b"[" + re.escape(tails) + b"]")


# The markers are U+00A1-U+00FF: in UTF-8 a C2 or C3 lead byte and one continuation byte. A pattern
# with a literal first byte lets ``re`` skip ahead at memchr speed: ~10x faster than the character
# class over the decoded text for a 17 MB packet.
_MARKER_BYTES = (_utf8_class(LEGACY_MARKERS, 0xC2), _utf8_class(LEGACY_MARKERS, 0xC3))


def text_is_clean(document: str | bytes) -> bool:
    """Fast path over a whole serialised document: NFC and free of legacy markers. Escapes (JSON
    ``\\u``, XML ``&#``) could hide decomposed characters, so their presence means "walk the fields".
    ``document`` is best given as the UTF-8 bytes (the marker scan runs on them)."""
    if isinstance(document, bytes):
        # Only the escapes of the document's own format matter: ``&#`` in XML, ``\\u`` in JSON.
        # The one-byte test runs at memchr speed and is nearly always decisive.
        first = document[:64].lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
        if first not in (b"{", b"[") and b"&" in document and b"&#" in document:
            return False
        if first != b"<" and b"\\" in document and b"\\u" in document:
            return False
        marked = any(p.search(document) is not None for p in _MARKER_BYTES)
        try:
            text = document.decode("utf-8")
        except UnicodeDecodeError:
            return False  # not UTF-8 after all: walk the fields
    else:
        if "\\u" in document or "&#" in document:
            return False
        marked = _ANY_MARKER.search(document) is not None
        text = document
    if not unicodedata.is_normalized("NFC", text):
        return False
    return not marked or _LEGACY_IN_WORD.search(text) is None


def check_nfc(value: Any, path: Path) -> Iterator[tuple[Path, str]]:
    if isinstance(value, str):
        if not unicodedata.is_normalized("NFC", value):
            yield path, "text is not Unicode NFC (TCVN 6909:2001 requires precomposed Unicode)"
        elif (marker := legacy_font_suspect(value)) is not None:
            yield (
                path,
                (
                    f"text looks like legacy TCVN3/VNI font encoding (character {marker!r} inside a word); "
                    "convert it to Unicode first (gateway unicode)"
                ),
            )
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from check_nfc(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from check_nfc(v, path + (i,))


def check(envelope: m.Envelope, *, document: str | bytes | None = None) -> list[tuple[Path, str]]:
    """Every cross-field violation in ``envelope`` (canonical paths). ``document``, the packet's own
    serialised text when the caller has it, lets the text checks skip the per-field walk when clean."""
    out: list[tuple[Path, str]] = []
    body = envelope.body
    bp: Path = ("body",)
    if document is None or not text_is_clean(document):
        out.extend(check_nfc(envelope.canonical(), ()))
    out.extend(check_times(envelope))
    for name in ("period",):
        period = getattr(body, name, None)
        if isinstance(period, m.Period):
            out.extend(check_period(period, bp + (name,)))
    if isinstance(body, m.StatusReport) and body.status in _REASON_REQUIRED and not body.reason:
        out.append((bp + ("reason",), f"a reason is required when the status is {body.status.value}"))
    if isinstance(body, m.Regime):
        if (body.deadline.day_of_month is None) == (body.deadline.days_after_cutoff is None):
            out.append((bp + ("deadline",), "exactly one of day-of-month and days-after-cut-off is required"))
        if body.valid_for.end is not None and body.valid_for.end < body.valid_for.start:
            out.append((bp + ("valid_for", "end"), "validity ends before it starts"))
    if isinstance(body, m.PeriodCatalogue):
        for i, entry in enumerate(body.periods):
            out.extend(check_period(entry.period, bp + ("periods", i, "period")))
            if entry.period_key != entry.period.key:
                out.append(
                    (
                        bp + ("periods", i, "period_key"),
                        f"period key {entry.period_key!r} does not match the period ({entry.period.key!r})",
                    )
                )
    if isinstance(body, m.KpiData):
        for i, v in enumerate(body.kpi_values):
            out.extend(check_period(v.period, bp + ("kpi_values", i, "period")))
    if isinstance(body, m.NarrativeReport):
        for i, att in enumerate(body.attachments):
            try:
                digest = hashlib.sha256(base64.b64decode(att.data, validate=True)).hexdigest()
            except ValueError:
                out.append((bp + ("attachments", i, "data"), "not valid base64"))
                continue
            if digest != att.sha256:
                out.append((bp + ("attachments", i, "sha256"), "SHA-256 does not match the attached data"))
    if isinstance(body, m.ReportFigures):
        out.extend(numbers_in_other_notation([f.value for f in body.figures], bp + ("figures",)))
        out.extend(_duplicate_figures(body.figures, bp + ("figures",)))
    return out


_PLAIN = m.DECIMAL_PATTERN.removeprefix("^").removesuffix("$")
_PLAIN_RE = re.compile(_PLAIN)
# Possessive: with a plain ``*`` the matcher keeps a backtracking point per value (126 MB for
# 150,000 values); a plain decimal holds no line end, so there is nothing to backtrack into.
_ALL_PLAIN = re.compile(f"(?:{_PLAIN}\n)*+{_PLAIN}")
NUMBER_LIKE = re.compile(
    r"""[+-]?(?:
        s?nan|inf|infinity                                  # NaN, Infinity: no number at all
      | (?:[0-9]+\.?[0-9]*|\.[0-9]+)e[+-]?[0-9]+            # 1e3, 1.5E-7
      | [0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?               # 1,234.5
      | [0-9]{1,3}(?:\.[0-9]{3})+(?:,[0-9]+)?               # 1.234,5 and 1.234.567 (Vietnamese)
      | [0-9]{1,3}(?:[ \u00a0\u202f][0-9]{3})+(?:[.,][0-9]+)?  # 1 234,5
      | [0-9]+,[0-9]+                                       # 1,5 (a decimal comma)
      | [0-9]+\.[0-9]*|\.[0-9]+                             # .5, 5., 01.5
      | (?<=\+)[0-9]+                                       # +5
    )""",
    re.IGNORECASE | re.VERBOSE,
)
"""A figure value a reader takes for a number (``Decimal``, a spreadsheet, ``float``) that is not in
the profile's plain notation. A leading-zero integer (``01``) is not in the class: it is how codes
are written in a text column."""


def numbers_in_other_notation(values: list[str], path: Path) -> Iterator[tuple[Path, str]]:
    """``GiaTri`` of a ``SoLieu`` is "a decimal string, or text when the column is VAN_BAN" (the
    profile): which column is text is in the form, not in the packet, so any text passes the schema.
    A number in another notation must not: ``1,234.5`` is 1234.5 to one reader and an error or 1.2345
    to another, ``1e3`` and ``NaN`` pass ``Decimal`` but are no figure a report can carry. Such a
    value is refused with its place; plain decimals and real text (``Số ước tính``, a date in an
    NGAY column, a code such as ``01``) pass. One C-speed match over all values first: a report's
    values are nearly always all plain (this runs for each of 100,000 values)."""
    if _ALL_PLAIN.fullmatch("\n".join(values)):
        return
    for i, value in enumerate(values):
        if NUMBER_LIKE.fullmatch(value) and not _PLAIN_RE.fullmatch(value):
            yield (
                path + (i, "value"),
                f"{value!r} is a number in another notation: figures are plain decimals (1234.5, -0.5: "
                "no thousands separators, decimal comma, exponent, '+' sign, NaN or Infinity); text is "
                "for VAN_BAN and NGAY columns only",
            )


def _duplicate_figures(figures: list[m.Figure], path: Path) -> Iterator[tuple[Path, str]]:
    """Two figures for the same row, indicator, column and disaggregation (in any order). Keys are
    built in one comprehension, from each figure's ``__dict__``, with no call per figure for the
    usual single cut, and compared as a set (this runs once per value of a 100,000-value packet);
    the positions are only looked for when there is a duplicate. A single cut's key is a pair of
    strings, any other a tuple of pairs, so the two shapes never collide."""
    keys = [
        (
            f["row_code"],
            f["indicator_code"],
            f["column_code"],
            (cut[0].dimension, cut[0].value_code)
            if len(cut := f["disaggregation"]) == 1
            else tuple(sorted((d.dimension, d.value_code) for d in cut)),
        )
        for f in [fig.__dict__ for fig in figures]
    ]
    if len(set(keys)) == len(keys):
        return
    seen: dict[tuple[Any, ...], int] = {}
    for i, key in enumerate(keys):
        if key in seen:
            yield path + (i,), f"duplicates figure {seen[key]} (same row, indicator, column and disaggregation)"
        else:
            seen[key] = i
