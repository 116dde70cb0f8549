"""The reader port and the records it yields."""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol


@dataclass(frozen=True)
class SourceRef:
    """Where a value came from: file, sheet, row and column (or an API record id)."""

    source: str
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    record: str | None = None

    def __str__(self) -> str:
        if self.sheet is None and self.column is None and self.record is None and self.row is not None:
            return f"{self.source}, row {self.row}"  # a line of a file: every value of a CSV export
        parts = [self.source]
        if self.sheet is not None:
            parts.append(f"sheet {self.sheet!r}")
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f"column {self.column}")
        if self.record is not None:
            parts.append(f"record {self.record}")
        return ", ".join(parts)


@dataclass(frozen=True)
class PeriodRef:
    """A period as the source names it: type (``THANG``, ``QUY`` ...), ordinal, year."""

    period_type: str
    number: int
    year: int

    @property
    def key(self) -> str:
        return f"{self.year}-{self.period_type}-{self.number}"


PERIOD_NUMBERS = {"NGAY": 366, "TUAN": 53, "THANG": 12, "QUY": 4, "6THANG": 2, "9THANG": 1, "NAM": 1, "DOT_XUAT": 366}
"""How many periods of each type a year has (the profile's ``SoKy`` ranges)."""


def period_ref(period_type: str, number: int, year: int) -> PeriodRef | str:
    """A period as the source names it, or why it is not one (``2026-THANG-13``, ``2026-NAM-2``).

    Checked where it is read, so a bad key is a problem naming its cell or record rather than an
    error deep in the calendar."""
    top = PERIOD_NUMBERS.get(period_type)
    if top is None:
        return f"unknown period type {period_type!r} (one of {', '.join(PERIOD_NUMBERS)})"
    if not 1 <= number <= top:
        return f"period {year:04d}-{period_type}-{number}: {period_type} numbers run from 1 to {top}"
    if not 1900 <= year <= 2999:
        return f"period {year:04d}-{period_type}-{number}: year {year} is outside 1900-2999"
    in_year = periods_in_year(period_type, year)
    if number > in_year:  # 2027-TUAN-53, 2026-NGAY-366: within the type's range, not in that year
        unit = "ISO weeks" if period_type == "TUAN" else "days"
        return f"period {year}-{period_type}-{number}: {year} has {in_year} {unit}"
    return PeriodRef(period_type, number, year)


def periods_in_year(period_type: str, year: int) -> int:
    """How many periods of the type ``year`` has: weeks (ISO 8601: 52 or 53) and days (365 or 366)
    depend on the year; the other types have a fixed count."""
    if period_type == "TUAN":
        return date(year, 12, 28).isocalendar().week  # 28 December is always in the year's last week
    if period_type == "NGAY":
        return 366 if calendar.isleap(year) else 365
    return PERIOD_NUMBERS[period_type]


@dataclass(frozen=True)
class RawObservation:
    """One value as read, before mapping: source indicator code and unit, raw value."""

    indicator_code: str
    indicator_name: str | None
    unit: str | None
    period: PeriodRef
    admin_unit: str | None
    value: object
    ref: SourceRef
    disaggregation: tuple[tuple[str, str], ...] = field(default=())
    column: str | None = None  # the template's column code (MaCot: TH, LK, KH, CK ...), when it has one


@dataclass(frozen=True)
class Blank:
    """A cell or field that holds no value: counted, not quarantined."""

    ref: SourceRef
    indicator_code: str | None = None


@dataclass(frozen=True)
class ReadProblem:
    """Something at ``ref`` could not be read; goes to quarantine with ``reason``."""

    ref: SourceRef
    reason: str
    raw: dict[str, object] = field(default_factory=dict)


ReadItem = RawObservation | Blank | ReadProblem


class Reader(Protocol):
    """A reader of observations from one source. Streams; never loads a whole source in memory."""

    name: str
    source: str

    def read(self) -> Iterator[ReadItem]: ...
