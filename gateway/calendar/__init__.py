"""The report calendar: data windows (Decree 09/2019/NĐ-CP), deadlines, working days.

A deadline that falls on a weekly day off or a public holiday moves to the next working day (Lào Cai
17/2022 art. 14.2). Public holidays come from the ``holidays`` package (Vietnam: Tết and the Hùng
Kings day on the lunar calendar, the Government's swapped days, 2 September as two days from 2025).
"""

from __future__ import annotations

import calendar as _cal
from datetime import date, timedelta
from functools import cache

import holidays

from gateway.packets import model as m

PERIOD_LAST_MONTH = {"THANG": None, "QUY": 3, "6THANG": 6, "9THANG": 9, "NAM": 12}


def last_month_of(period_type: str, number: int) -> int:
    if period_type == "THANG":
        return number
    if period_type == "QUY":
        return 3 * number
    if period_type == "6THANG":
        return 6 * number
    if period_type == "9THANG":
        return 9
    if period_type == "NAM":
        return 12
    raise ValueError(f"period type {period_type!r} has no fixed last month")


def _clamp(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, _cal.monthrange(year, month)[1]))


def data_window(period_type: str, number: int, year: int, start_day: int = 15, end_day: int = 14) -> tuple[date, date]:
    """Decree 09 cut-off window: from ``start_day`` of the month before the period's first month
    to ``end_day`` of its last month (monthly: 15 Sep-14 Oct for October)."""
    last = last_month_of(period_type, number)
    span = {"THANG": 1, "QUY": 3, "6THANG": 6, "9THANG": 9, "NAM": 12}[period_type]
    first = last - span + 1
    if period_type in ("9THANG", "NAM") or (period_type == "6THANG" and number == 1):
        first = 1
    prev_year, prev_month = (year - 1, 12) if first == 1 else (year, first - 1)
    return _clamp(prev_year, prev_month, start_day), _clamp(year, last, end_day)


def period(period_type: str, number: int, year: int, start_day: int = 15, end_day: int = 14) -> m.Period:
    start, end = data_window(period_type, number, year, start_day, end_day)
    return m.Period(period_type=m.PeriodType(period_type), number=number, year=year, start=start, end=end)


@cache
def _vn_holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("VN", years=[year, year + 1])


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _vn_holidays(day.year)


def next_working_day(day: date) -> date:
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def deadline(period_type: str, number: int, year: int, day_of_month: int) -> tuple[date, date]:
    """(nominal, effective) deadline: day N of the period's last month, rolled to a working day."""
    nominal = _clamp(year, last_month_of(period_type, number), day_of_month)
    return nominal, next_working_day(nominal)
