"""What a reader reads, as records an operator (or a test) can compare: ``gateway ingest --dry-run``.

One record per raw observation: ``indicator`` (the source code), ``name`` (Unicode NFC), ``unit``,
``column`` (the column code sent as ``MaCot``), ``period``, ``unit_code`` (the reporting or
administrative unit, when known), ``value`` (exact decimal as text when it is a number, else the
text as read) and ``location`` (``sheet!cell``, or ``file:line``); one record per problem with
``problem`` (the reason, decoded text) and ``location``. Blanks are counted, not listed.
Nothing is stored and no mapping is needed.
"""

from __future__ import annotations

import math
import unicodedata
from decimal import Decimal, InvalidOperation
from pathlib import PurePath
from typing import Any

from adapters.base import Blank, RawObservation, ReadItem, ReadProblem, SourceRef

FIELDS = ("indicator", "name", "unit", "column", "period", "unit_code", "value", "location")


def location(ref: SourceRef) -> str:
    """``Sheet!E12`` in a workbook, ``file.csv:12`` in a text file, the record id of an API record."""
    if ref.sheet is not None:
        if ref.row is not None and ref.column is not None:
            return f"{ref.sheet}!{ref.column}{ref.row}"
        if ref.row is not None:
            return f"{ref.sheet}!{ref.row}:{ref.row}"
        return ref.sheet
    name = PurePath(ref.source).name if "://" not in ref.source and "@" not in ref.source else ref.source
    if ref.record is not None:
        return f"{name}#{ref.record}"
    if ref.row is not None:
        return f"{name}:{ref.row}"
    return name


def value_text(value: object) -> str:
    """Exact decimal text for a number (a float by its shortest round-tripping text, never more
    digits than it holds); anything else as its text."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        value = Decimal(repr(value))
    if isinstance(value, int | Decimal):
        d = Decimal(value)
    else:
        text = str(value).strip()
        try:
            d = Decimal(text)
        except InvalidOperation:
            return text
    if not d.is_finite():
        return str(value)
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def record(item: ReadItem) -> dict[str, Any] | None:
    if isinstance(item, Blank):
        return None
    if isinstance(item, ReadProblem):
        return {"problem": item.reason, "location": location(item.ref)}
    assert isinstance(item, RawObservation)
    return {
        "indicator": item.indicator_code,
        "name": unicodedata.normalize("NFC", item.indicator_name) if item.indicator_name else None,
        "unit": item.unit,
        "column": item.column,
        "period": item.period.key,
        "unit_code": item.admin_unit,
        "value": value_text(item.value),
        "location": location(item.ref),
    }
