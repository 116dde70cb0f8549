"""Data windows (Decree 09) and deadlines that roll over weekends and Vietnamese holidays."""

from __future__ import annotations

from datetime import date

import pytest

from gateway import calendar


@pytest.mark.parametrize(
    ("ptype", "number", "year", "window"),
    [
        ("THANG", 1, 2026, (date(2025, 12, 15), date(2026, 1, 14))),
        ("THANG", 10, 2026, (date(2026, 9, 15), date(2026, 10, 14))),
        ("QUY", 1, 2026, (date(2025, 12, 15), date(2026, 3, 14))),
        ("QUY", 3, 2026, (date(2026, 6, 15), date(2026, 9, 14))),
        ("6THANG", 1, 2026, (date(2025, 12, 15), date(2026, 6, 14))),
        ("6THANG", 2, 2026, (date(2026, 6, 15), date(2026, 12, 14))),
        ("9THANG", 1, 2026, (date(2025, 12, 15), date(2026, 9, 14))),
        ("NAM", 1, 2026, (date(2025, 12, 15), date(2026, 12, 14))),
    ],
)
def test_decree_09_windows(ptype: str, number: int, year: int, window: tuple[date, date]) -> None:
    assert calendar.data_window(ptype, number, year) == window


@pytest.mark.parametrize(
    ("nominal_day", "month", "effective"),
    [
        (17, 2, date(2026, 2, 23)),  # Tết 2026: 17 February is the first day of the lunar year
        (25, 1, date(2026, 1, 26)),  # a Sunday rolls to Monday
        (30, 4, date(2026, 5, 4)),  # 30 April and 1 May, then the weekend
        (2, 9, date(2026, 9, 3)),  # National Day 2 September (two days since 2025: 1-2 September)
    ],
)
def test_deadline_rolls_to_next_working_day(nominal_day: int, month: int, effective: date) -> None:
    nominal, eff = calendar.deadline("THANG", month, 2026, nominal_day)
    assert nominal == date(2026, month, nominal_day)
    assert eff == effective
