"""The reader port and the records it yields."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
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
