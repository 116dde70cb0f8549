"""The report calendar: periods, data windows (Decree 09/2019/NĐ-CP), deadlines, working days.

A deadline that falls on a weekly day off or a public holiday moves to the next working day (Lào Cai
17/2022 art. 14.2). Public holidays come from the ``holidays`` package (Vietnam: Tết and the Hùng
Kings day on the lunar calendar, the Government's swapped days, 2 September as two days from 2025,
24 November from 2026); an overrides file adds each year's extra days off and make-up working days.
"""

from __future__ import annotations

import calendar as _cal
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from gateway import resources
from gateway.errors import ConfigurationError
from gateway.packets import period as m
from mappings import yaml_files

if TYPE_CHECKING:
    import holidays

OVERRIDES_FILE = resources.bundled("calendar") / "overrides.yaml"  # shipped; an operator's copy comes first
FREQUENCIES = ("THANG", "QUY", "6THANG", "9THANG", "NAM")
PERIODS_PER_YEAR = {"THANG": 12, "QUY": 4, "6THANG": 2, "9THANG": 1, "NAM": 1}
SPAN_MONTHS = {"THANG": 1, "QUY": 3, "6THANG": 6, "9THANG": 9, "NAM": 12}


def last_month_of(period_type: str, number: int) -> int:
    if period_type == "THANG":
        return number
    if period_type == "QUY":
        return 3 * number
    if period_type == "6THANG":
        return 6 * number
    if period_type in ("9THANG", "NAM"):
        return 9 if period_type == "9THANG" else 12
    raise ValueError(f"period type {period_type!r} has no fixed last month")


def first_month_of(period_type: str, number: int) -> int:
    return last_month_of(period_type, number) - SPAN_MONTHS[period_type] + 1


def _clamp(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, _cal.monthrange(year, month)[1]))


def data_window(
    period_type: str, number: int, year: int, start_day: int | None = 15, end_day: int | None = 14
) -> tuple[date, date]:
    """The data window of a period. Decree 09 cut-off (the default, ``start_day``/``end_day`` 15/14):
    from ``start_day`` of the month before the period's first month to ``end_day`` of its last month
    (monthly: 15 Sep-14 Oct for October). ``None`` for both: the calendar period itself."""
    first, last = first_month_of(period_type, number), last_month_of(period_type, number)
    if start_day is None or end_day is None:
        return date(year, first, 1), _clamp(year, last, 31)
    prev_year, prev_month = (year - 1, 12) if first == 1 else (year, first - 1)
    return _clamp(prev_year, prev_month, start_day), _clamp(year, last, end_day)


def period(period_type: str, number: int, year: int, start_day: int | None = 15, end_day: int | None = 14) -> m.Period:
    start, end = data_window(period_type, number, year, start_day, end_day)
    return m.Period(period_type=m.PeriodType(period_type), number=number, year=year, start=start, end=end)


@dataclass(frozen=True)
class WorkingCalendar:
    """Weekends and Vietnamese public holidays, corrected by the Government's yearly notices."""

    days_off: frozenset[date] = field(default_factory=frozenset)
    working_days: frozenset[date] = field(default_factory=frozenset)
    public_holidays: bool = True

    @staticmethod
    def from_file(path: Path | None = None) -> WorkingCalendar:
        """Days off and make-up working days from ``path``, or else the first ``overrides.yaml`` on the
        calendar search path (``{data_dir}/calendar`` or ``[resources] calendar_dir``, then the shipped one)."""
        path = path or resources.find("calendar", "overrides.yaml")
        try:
            raw = yaml_files.safe_load(path.read_text(encoding="utf-8")) or {}
            off = frozenset(_as_date(e["date"]) for e in raw.get("days_off") or [])
            on = frozenset(_as_date(e["date"]) for e in raw.get("working_days") or [])
        except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
            raise ConfigurationError(f"calendar overrides {path}: {exc}") from exc
        if off & on:
            raise ConfigurationError(f"calendar overrides {path}: {sorted(off & on)} are both off and working")
        return WorkingCalendar(off, on)

    def is_working_day(self, day: date) -> bool:
        if day in self.working_days:
            return True
        if day in self.days_off:
            return False
        if not self.public_holidays:
            return day.weekday() < 5
        # The package knows weekends, holidays and the Government's swaps (a swapped Saturday works).
        return bool(_vn_holidays(day.year).is_working_day(day))

    def next_working_day(self, day: date) -> date:
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def add_working_days(self, day: date, n: int) -> date:
        """The ``n``-th working day after ``day``."""
        while n > 0:
            day += timedelta(days=1)
            if self.is_working_day(day):
                n -= 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days strictly after ``start`` and strictly before ``end``."""
        count, day = 0, start + timedelta(days=1)
        while day < end:
            count += self.is_working_day(day)
            day += timedelta(days=1)
        return count


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


@cache
def _vn_holidays(year: int) -> holidays.HolidayBase:
    # Imported here: the package imports every country's module (0.2-0.6 s), which only a deadline needs.
    import holidays

    return holidays.country_holidays("VN", years=[year - 1, year, year + 1])


def default_calendar() -> WorkingCalendar:
    """The calendar of the first ``overrides.yaml`` on the search path (read once per file)."""
    return _calendar_of(resources.find("calendar", "overrides.yaml"))


@cache
def _calendar_of(path: Path) -> WorkingCalendar:
    return WorkingCalendar.from_file(path)


def is_working_day(day: date) -> bool:
    return default_calendar().is_working_day(day)


def next_working_day(day: date) -> date:
    return default_calendar().next_working_day(day)


def deadline(period_type: str, number: int, year: int, day_of_month: int) -> tuple[date, date]:
    """(nominal, effective) deadline: day N of the period's last month, rolled to a working day."""
    nominal = _clamp(year, last_month_of(period_type, number), day_of_month)
    return nominal, next_working_day(nominal)
