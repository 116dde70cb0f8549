"""The report calendar: Decree 09 windows, deadlines rolled over weekends and Vietnamese holidays,
the Government's swaps and our overrides file, and the art. 8.5 check."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import calendar
from gateway.calendar import WorkingCalendar
from gateway.calendar.regimes import DeadlineRule, RegimeDef, check, regime_for, runs
from gateway.errors import ConfigurationError

TILING = ["THANG", "QUY", "6THANG", "NAM"]


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


@settings(max_examples=60, deadline=None)
@given(year=st.integers(2020, 2035), frequency=st.sampled_from(TILING))
def test_windows_tile_the_year_without_gaps_or_overlaps(year: int, frequency: str) -> None:
    regime = regime_for(frequency, 25)
    this, following = runs(regime, year), runs(regime, year + 1)
    assert this[0].period.start == date(year - 1, 12, 15) and this[-1].period.end == date(year, 12, 14)
    for a, b in zip(this, this[1:] + following[:1], strict=False):
        assert b.period.start == a.period.end + timedelta(days=1)  # contiguous: no gap, no overlap
    nine = runs(regime_for("9THANG", 25), year)[0].period
    assert (nine.start, nine.end) == (date(year - 1, 12, 15), date(year, 9, 14))


@settings(max_examples=200, deadline=None)
@given(year=st.integers(2020, 2035), frequency=st.sampled_from(TILING + ["9THANG"]), day=st.integers(1, 31))
def test_effective_deadline_is_a_working_day_no_earlier_than_nominal(year: int, frequency: str, day: int) -> None:
    for run in runs(regime_for(frequency, day), year):
        assert calendar.is_working_day(run.deadline)
        assert run.deadline >= run.nominal_deadline
        assert (run.deadline - run.nominal_deadline).days <= 12  # Tết is the longest stretch
        assert all(
            not calendar.is_working_day(run.nominal_deadline + timedelta(days=i))
            for i in range((run.deadline - run.nominal_deadline).days)
        )


@pytest.mark.parametrize(
    ("month", "year", "day", "effective", "why"),
    [
        (2, 2026, 17, date(2026, 2, 23), "Tết 2026: 16-20 February off, then the weekend"),
        (2, 2027, 5, date(2027, 2, 11), "Tết 2027: 4-10 February off"),
        (4, 2026, 30, date(2026, 5, 4), "30 April and 1 May, then the weekend"),
        (9, 2026, 2, date(2026, 9, 3), "National Day: two days (1-2 September) since 2025"),
        (9, 2027, 2, date(2027, 9, 6), "National Day 2027: 2-3 September, then the weekend"),
        (1, 2026, 24, date(2026, 1, 26), "a Saturday rolls to Monday"),
        (11, 2026, 24, date(2026, 11, 25), "Vietnam Cultural Day, a holiday from 2026"),
    ],
)
def test_worked_deadline_cases(month: int, year: int, day: int, effective: date, why: str) -> None:
    nominal, eff = calendar.deadline("THANG", month, year, day)
    assert nominal == date(year, month, day)
    assert eff == effective, why


def test_a_swapped_saturday_is_a_working_day() -> None:
    assert calendar.is_working_day(date(2026, 8, 22))  # worked in exchange for 31 August 2026
    assert not calendar.is_working_day(date(2026, 8, 31))


def test_overrides_file_adds_days_off_and_make_up_working_days(tmp_path: Path) -> None:
    path = tmp_path / "overrides.yaml"
    path.write_text(
        "days_off:\n  - {date: 2027-06-21, name: extra day off}\n"
        "working_days:\n  - {date: 2027-06-19, name: make-up Saturday}\n"
    )
    cal = WorkingCalendar.from_file(path)
    assert cal.is_working_day(date(2027, 6, 19)) and not calendar.is_working_day(date(2027, 6, 19))
    assert not cal.is_working_day(date(2027, 6, 21))
    regime = RegimeDef(
        code="R", name="R", frequency="THANG", deadline=DeadlineRule(day_of_month=19), destinations=[], forms=[]
    )
    june = runs(regime, 2027, cal)[5]
    assert (june.nominal_deadline, june.deadline) == (date(2027, 6, 19), date(2027, 6, 19))  # the make-up day
    assert runs(regime, 2027)[5].deadline == date(2027, 6, 21)  # without the overrides: Monday


def test_deadline_in_working_days_after_the_window() -> None:
    regime = RegimeDef(
        code="R",
        name="R",
        frequency="THANG",
        deadline=DeadlineRule(working_days_after_cutoff=3),
        destinations=[],
        forms=[],
    )
    feb = runs(regime, 2026, WorkingCalendar())[1]  # window ends Sat 14 Feb; Tết 16-20 Feb
    assert feb.period.end == date(2026, 2, 14)
    assert feb.deadline == date(2026, 2, 25)  # Mon 23, Tue 24, Wed 25


def test_regime_leaving_no_working_day_after_its_window_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"art\. 8\.5"):
        check(regime_for("THANG", 15), years=range(2027, 2028))
    check(regime_for("THANG", 20), years=range(2020, 2036))  # the Lào Cai rule is fine


def test_the_shipped_overrides_carry_the_2026_new_year_swap() -> None:
    """Công văn 12729/VPCP-KGVX: Friday 2 January 2026 off, Saturday 10 January worked. The `holidays`
    package knows only 1 January; found by an outside check of a deadline two working days after 31
    December 2025, which came out as 5 January instead of 6."""
    assert not calendar.is_working_day(date(2026, 1, 2)) and calendar.is_working_day(date(2026, 1, 10))
    assert calendar.is_working_day(date(2026, 1, 5)) and not calendar.is_working_day(date(2026, 1, 11))
