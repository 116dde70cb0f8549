"""One value per record ("long format"), as CSV exports, SQL tables and the provincial system's API
give them: which field holds the indicator code, its name, the unit, the period key, the
administrative unit and the value. Shared by the CSV, SQL and JSON API readers."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from adapters.base import Blank, PeriodRef, RawObservation, ReadItem, ReadProblem, SourceRef, period_ref

PERIOD_KEY = re.compile(r"^(?P<year>\d{4})-(?P<type>THANG|QUY|6THANG|9THANG|NAM)-(?P<number>\d{1,2})$", re.ASCII)


@dataclass(frozen=True)
class LongFormat:
    indicator: str = "ma_chi_tieu"
    name: str | None = "ten_chi_tieu"
    unit: str | None = "don_vi_tinh"
    period: str = "ky"
    admin_unit: str | None = "ma_dvhc"
    value: str = "gia_tri"
    record_id: str | None = None
    dimensions: tuple[tuple[str, str], ...] = ()  # (field, dimension code), e.g. ("gioi_tinh", "GIOI_TINH")

    def item(self, record: Mapping[str, object], ref: SourceRef, text: Callable[[str], str] = lambda s: s) -> ReadItem:
        """One record -> a raw observation, a blank, or a problem naming the field."""
        missing = [f for f in (self.indicator, self.period, self.value) if f not in record]
        if missing:
            return ReadProblem(ref, f"missing field(s) {', '.join(missing)}", {k: _plain(v) for k, v in record.items()})
        code = str(record[self.indicator] or "").strip()
        value = record[self.value]
        if not code:
            return ReadProblem(
                ref, f"no indicator code in field {self.indicator!r}", {k: _plain(v) for k, v in record.items()}
            )
        if value is None or (isinstance(value, str) and not value.strip()):
            return Blank(ref, code)
        period = _period(str(record[self.period] or "").strip())
        if period is None:
            return ReadProblem(
                ref,
                f"period {record[self.period]!r} is not of the form 2026-THANG-10",
                {k: _plain(v) for k, v in record.items()},
            )
        if isinstance(period, str):
            return ReadProblem(ref, period, {k: _plain(v) for k, v in record.items()})
        name = record.get(self.name) if self.name else None
        unit = record.get(self.unit) if self.unit else None
        admin = record.get(self.admin_unit) if self.admin_unit else None
        breakdown = tuple(
            (dim, text(str(record[f])).strip()) for f, dim in self.dimensions if record.get(f) not in (None, "")
        )
        return RawObservation(
            disaggregation=breakdown,
            indicator_code=code,
            indicator_name=text(str(name)) if name else None,
            unit=text(str(unit)).strip() if unit else None,
            period=period,
            admin_unit=str(admin).strip() if admin not in (None, "") else None,
            value=value,
            ref=ref,
        )


    def for_header(self, header: list[str]) -> Callable[[list[str], SourceRef], ReadItem]:
        """``item`` for the text rows of a file with this header (a CSV export), taking fields by
        position (issue 19: a dict per row cost more than reading the row). A row holding a value
        of a readable period is read here, as ``item`` would read it; any other row (no indicator
        code, no value, a bad period) goes through ``item`` itself, so blanks and problems are
        exactly ``item``'s. Files whose header lacks a field ``item`` needs, and layouts with
        breakdown fields, always take ``item``."""
        position = {name: i for i, name in enumerate(header)}  # a repeated name: the last, as dict(zip()) has it

        def general(row: list[str], ref: SourceRef) -> ReadItem:
            return self.item(dict(zip(header, row, strict=True)), ref)

        if self.dimensions or any(f not in position for f in (self.indicator, self.period, self.value)):
            return general
        at_code, at_period, at_value = position[self.indicator], position[self.period], position[self.value]
        at_name = position.get(self.name) if self.name else None
        at_unit = position.get(self.unit) if self.unit else None
        at_admin = position.get(self.admin_unit) if self.admin_unit else None

        def fast(row: list[str], ref: SourceRef) -> ReadItem:
            code = row[at_code].strip()
            value = row[at_value]
            period = _period(row[at_period].strip())
            if not code or not value.strip() or period is None or isinstance(period, str):
                return general(row, ref)
            name = row[at_name] if at_name is not None else None
            unit = row[at_unit] if at_unit is not None else None
            admin = row[at_admin] if at_admin is not None else None
            return RawObservation(
                indicator_code=code,
                indicator_name=name or None,
                unit=unit.strip() if unit else None,
                period=period,
                admin_unit=admin.strip() if admin else None,
                value=value,
                ref=ref,
            )

        return fast


@lru_cache(maxsize=4096)
def _period(key: str) -> PeriodRef | str | None:
    """A period key read once per distinct text (a source repeats a few keys on every record): the
    period, why it is not one, or None when it is not of the form ``2026-THANG-10``."""
    match = PERIOD_KEY.match(key)
    if match is None:
        return None
    return period_ref(match["type"], int(match["number"]), int(match["year"]))


def _plain(value: object) -> object:
    """A field as a problem's raw record keeps it: JSON scalars as they are, anything else (and NaN or
    an infinity, which JSON cannot hold) as text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)
