"""A period key names a period that exists in its year: 2027 has 52 ISO weeks and 2026 has 365 days,
so ``2027-TUAN-53`` and ``2026-NGAY-366`` are refused where a key is read (a source, the command line,
the API), not accepted as periods no calendar has (found by an outside review)."""

from __future__ import annotations

from datetime import date

import pytest

from adapters.base import PeriodRef, period_ref, periods_in_year


@pytest.mark.parametrize(
    ("period_type", "number", "year", "message"),
    [
        ("TUAN", 53, 2027, "period 2027-TUAN-53: 2027 has 52 ISO weeks"),
        ("NGAY", 366, 2026, "period 2026-NGAY-366: 2026 has 365 days"),
        ("NGAY", 366, 2100, "period 2100-NGAY-366: 2100 has 365 days"),  # not a leap year (divisible by 100)
        ("TUAN", 54, 2026, "TUAN numbers run from 1 to 53"),
    ],
)
def test_a_period_number_the_year_does_not_have_is_refused(
    period_type: str, number: int, year: int, message: str
) -> None:
    refused = period_ref(period_type, number, year)
    assert isinstance(refused, str) and message in refused, refused


@pytest.mark.parametrize(
    ("period_type", "number", "year"),
    [("TUAN", 53, 2026), ("TUAN", 53, 2032), ("NGAY", 366, 2028), ("NGAY", 366, 2000), ("TUAN", 52, 2027)],
)
def test_the_last_period_of_a_year_that_has_it_is_accepted(period_type: str, number: int, year: int) -> None:
    assert period_ref(period_type, number, year) == PeriodRef(period_type, number, year)


def test_weeks_in_a_year_agree_with_the_iso_calendar() -> None:
    for year in range(1990, 2101):
        in_year = [date(year, 12, d).isocalendar() for d in range(22, 32)]
        assert periods_in_year("TUAN", year) == max(w.week for w in in_year if w.year == year), year


def test_the_api_refuses_a_week_the_year_does_not_have() -> None:
    from gateway.api.schemas import _period_key

    assert _period_key("2026-TUAN-53") == "2026-TUAN-53"
    with pytest.raises(ValueError, match="2027 has 52 ISO weeks"):
        _period_key("2027-TUAN-53")
