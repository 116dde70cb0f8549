"""The report calendar: periods, data windows (Decree 09/2019/NĐ-CP), deadlines, working days.

A deadline that falls on a weekly day off or a public holiday moves to the next working day (Lào Cai
17/2022 art. 14.2). Public holidays come from the ``holidays`` package (Vietnam: Tết and the Hùng
Kings day on the lunar calendar, the Government's swapped days, 2 September as two days from 2025,
24 November from 2026); an overrides file adds each year's extra days off and make-up working days.

The files an operator writes (the overrides here, the regimes in :mod:`gateway.calendar.regimes`) are
read strictly: an unknown key, a date that does not exist or a YAML syntax error is one line naming
the file and the place, never a key silently ignored or a traceback.
"""

from __future__ import annotations

import calendar as _cal
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, get_args

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

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
YEARS = range(2000, 2100)
"""Years whose calendar the gateway can tell. The ``holidays`` package's Vietnamese holidays end in
2100 (its lunar table does), and a deadline of a 2099 period can roll into 2100; before 2000 the
state sector did not yet work the five-day week this calendar assumes (the 40-hour week began in
October 1999, Quyết định 188/1999/QĐ-TTg)."""


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


class _DateTextLoader(yaml_files.SAFE_LOADER):  # type: ignore[misc,valid-type]
    """Dates stay text until pydantic reads them: PyYAML's own timestamp constructor turns
    ``2026-13-01`` into a bare ``ValueError`` that names neither the file nor the key (exit 70)."""


_DateTextLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_scalar)


def load_yaml(path: Path, what: str) -> Any:
    """The YAML document of an operator's file; a file that cannot be read or parsed is one line
    naming ``what`` it is, the file and the line (PyYAML's own message spans two to four lines)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"{what} {path}: not UTF-8 (byte {exc.start}); save the file as UTF-8") from exc
    except OSError as exc:
        raise ConfigurationError(f"{what} {path}: cannot be read: {exc.strerror}") from exc
    try:
        return yaml.load(text, Loader=_DateTextLoader)  # noqa: S506 - a safe loader (C or Python)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{what} {path}{yaml_files.yaml_problem(exc)}") from exc


def _iso_date(value: object) -> object:
    """A date written as ``2026-01-02``; anything else is refused with the value (pydantic would take
    an integer as a Unix timestamp)."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a date such as 2026-01-02")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a date such as 2026-01-02 ({exc})") from None


IsoDate = Annotated[date, BeforeValidator(_iso_date)]


def describe(exc: ValidationError, model: type[BaseModel]) -> str:
    """Every problem of ``exc`` on one line: where (``days_off[0].date``) and what; an unknown key
    names the keys accepted there, so a misspelt one (``days_of``) is found at a glance."""
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden":
            parent = _model_at(model, loc[:-1])
            accepted = f"; accepted keys: {', '.join(parent.model_fields)}" if parent is not None else ""
            inside = f" in {_where(loc[:-1])}" if loc[:-1] else ""
            problems.append(f"unknown key {loc[-1]!r}{inside}{accepted}")
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{_where(loc)}: {message}" if loc else message)
    return "; ".join(problems)


def _where(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        inner = _model_in(field.annotation) if field is not None else None
        if inner is None:
            return None
        model = inner
    return model


def _model_in(annotation: object) -> type[BaseModel] | None:
    """The model a field holds (``CutOffRule``, ``list[ListReport]``, ``X | None``), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


class _OverrideDay(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    date: IsoDate
    name: str | None = None


class _Overrides(BaseModel):
    """The overrides file: closed, so a misspelt ``days_of:`` is an error rather than no days off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    days_off: list[_OverrideDay] = []
    working_days: list[_OverrideDay] = []


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
        raw = load_yaml(path, "calendar overrides")
        try:
            read = _Overrides.model_validate({} if raw is None else raw)
        except ValidationError as exc:
            raise ConfigurationError(f"calendar overrides {path}: {describe(exc, _Overrides)}") from exc
        off = frozenset(d.date for d in read.days_off)
        on = frozenset(d.date for d in read.working_days)
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


@cache
def _vn_holidays(year: int) -> holidays.HolidayBase:
    if not YEARS.start <= year <= YEARS.stop:  # the year after the last: a 2099 deadline rolls into it
        raise ConfigurationError(
            f"no public holidays are known for {year}: the calendar covers {YEARS.start}-{YEARS.stop - 1}"
        )
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
