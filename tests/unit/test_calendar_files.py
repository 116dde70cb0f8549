"""The files an operator writes for the calendar (holiday overrides, regimes) are read strictly, and
the calendar answers only for the years it has holidays for. Found by an outside review: a misspelt
``days_of:`` was silently no days off, ``start: 2026-13-01`` was an "unexpected error" (exit 70), a
lead time could push a report before its data window had ended, ``2026-THANG-0`` gave December."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from gateway.calendar import WorkingCalendar, is_working_day
from gateway.calendar.regimes import DeadlineRule, RegimeDef, load_regime, regime_for, run_for, runs
from gateway.errors import ConfigurationError

REGIME = """\
code: "{code}"
name: "Hand-written regime"
frequency: "THANG"
cutoff: {{start_day: 15, end_day: 14}}
deadline: {{day_of_month: 25}}
destinations: ["national"]
forms: ["BM01-KT"]
lead_days: {lead}
start: {start}
"""


def write_regime(folder: Path, code: str, *, lead: int = 0, start: str = "2026-01-01") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{code}.yaml"
    path.write_text(REGIME.format(code=code, lead=lead, start=start), encoding="utf-8")
    return path


def one_line(exc: pytest.ExceptionInfo[ConfigurationError]) -> str:
    text = str(exc.value)
    assert "\n" not in text, text
    return text


def test_a_misspelt_key_in_the_overrides_is_refused_naming_the_file_and_the_accepted_keys(tmp_path: Path) -> None:
    path = tmp_path / "overrides.yaml"
    path.write_text("days_of:\n  - {date: 2027-03-08, name: extra day off}\n", encoding="utf-8")
    with pytest.raises(ConfigurationError) as refused:
        WorkingCalendar.from_file(path)
    text = one_line(refused)
    assert str(path) in text and "unknown key 'days_of'" in text
    assert "accepted keys: days_off, working_days" in text


def test_a_misspelt_key_in_an_override_day_names_where_it_is(tmp_path: Path) -> None:
    path = tmp_path / "overrides.yaml"
    path.write_text("working_days:\n  - {date: 2027-06-19, nmae: make-up Saturday}\n", encoding="utf-8")
    with pytest.raises(ConfigurationError) as refused:
        WorkingCalendar.from_file(path)
    assert "unknown key 'nmae' in working_days[0]; accepted keys: date, name" in one_line(refused)


def test_a_date_that_does_not_exist_in_the_overrides_names_its_place(tmp_path: Path) -> None:
    path = tmp_path / "overrides.yaml"
    path.write_text("days_off:\n  - {date: 2027-02-30}\n", encoding="utf-8")
    with pytest.raises(ConfigurationError) as refused:
        WorkingCalendar.from_file(path)
    text = one_line(refused)
    assert str(path) in text and "days_off[0].date: '2027-02-30' is not a date" in text


def test_a_yaml_syntax_error_in_the_overrides_is_one_line_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "overrides.yaml"
    path.write_text("days_off:\n  - {date: 2027-03-08\nworking_days: []\n", encoding="utf-8")
    with pytest.raises(ConfigurationError) as refused:
        WorkingCalendar.from_file(path)
    text = one_line(refused)
    assert f"{path}, line 3, column" in text and "not valid YAML" in text and "starts on line 2" in text


def test_an_empty_overrides_file_is_no_overrides(tmp_path: Path) -> None:
    path = tmp_path / "overrides.yaml"
    path.write_text("# nothing announced yet\n", encoding="utf-8")
    assert WorkingCalendar.from_file(path) == WorkingCalendar()


def test_a_regime_with_a_date_that_does_not_exist_is_a_configuration_error_naming_file_and_field(
    tmp_path: Path,
) -> None:
    path = write_regime(tmp_path / "regimes", "BAD-START", start="2026-13-01")
    with pytest.raises(ConfigurationError) as refused:
        load_regime("BAD-START", tmp_path / "regimes")
    text = one_line(refused)
    assert str(path) in text and "start: '2026-13-01' is not a date" in text and "month must be in 1..12" in text


def test_a_regime_starting_outside_the_calendar_s_years_is_refused(tmp_path: Path) -> None:
    path = write_regime(tmp_path / "regimes", "OLD-START", start="1990-01-01")
    with pytest.raises(ConfigurationError) as refused:
        load_regime("OLD-START", tmp_path / "regimes")
    assert str(path) in one_line(refused) and "start: 1990-01-01 is outside the years" in str(refused.value)


def test_a_misspelt_regime_key_names_the_keys_accepted_there(tmp_path: Path) -> None:
    folder = tmp_path / "regimes"
    path = write_regime(folder, "TYPO")
    path.write_text(path.read_text(encoding="utf-8").replace("start_day", "start_dy"), encoding="utf-8")
    with pytest.raises(ConfigurationError) as refused:
        load_regime("TYPO", folder)
    assert "unknown key 'start_dy' in cutoff; accepted keys: start_day, end_day, calendar" in one_line(refused)


def test_a_yaml_syntax_error_in_a_regime_is_one_line_with_its_line(tmp_path: Path) -> None:
    folder = tmp_path / "regimes"
    path = write_regime(folder, "BROKEN")
    path.write_text(path.read_text(encoding="utf-8") + "forms: [BM02\n", encoding="utf-8")
    with pytest.raises(ConfigurationError) as refused:
        load_regime("BROKEN", folder)
    assert f"{path}, line 11, column" in one_line(refused)


def test_a_lead_time_reaching_into_the_data_window_is_refused_naming_the_file(tmp_path: Path) -> None:
    """Window 15th-14th, deadline the 25th (26 January 2026, a Monday): 15 days ahead is the 11th,
    before the window ends on the 14th. The operator is told how many days the rule leaves."""
    path = write_regime(tmp_path / "regimes", "EARLY", lead=15)
    with pytest.raises(ConfigurationError) as refused:
        load_regime("EARLY", tmp_path / "regimes")
    text = one_line(refused)
    assert str(path) in text and "lead_days 15 would push 2026-THANG-1 on 2026-01-11" in text
    assert "before its data window has ended (2026-01-14)" in text and "lead_days may be at most 10" in text
    assert load_regime("EARLY-OK", _fine(tmp_path, lead=10)).lead_days == 10


def _fine(tmp_path: Path, lead: int) -> Path:
    write_regime(tmp_path / "fine", "EARLY-OK", lead=lead)
    return tmp_path / "fine"


def test_no_push_date_falls_inside_the_data_window_even_for_an_unchecked_regime() -> None:
    """A regime made in code is never checked: its push date is still the day after the window ends
    at the earliest, not the day its lead time names (11 January, inside the window to the 14th)."""
    regime = RegimeDef(
        code="R",
        name="R",
        frequency="THANG",
        deadline=DeadlineRule(day_of_month=25),
        destinations=[],
        forms=[],
        lead_days=15,
    )
    january, march = runs(regime, 2026)[0], runs(regime, 2026)[2]
    assert (january.period.end, january.deadline) == (date(2026, 1, 14), date(2026, 1, 26))
    assert january.push_on == date(2026, 1, 15)
    assert (march.deadline, march.push_on) == (date(2026, 3, 25), date(2026, 3, 15))
    assert runs(regime.model_copy(update={"lead_days": 2}), 2026)[0].push_on == date(2026, 1, 24)


def test_run_for_refuses_a_period_key_outside_the_regime_s_year() -> None:
    regime = regime_for("THANG", 25)
    assert run_for(regime, "2026-THANG-12").key == "2026-THANG-12"
    for key, message in (
        ("2026-THANG-0", "THANG numbers run from 1 to 12"),
        ("2026-THANG-13", "THANG numbers run from 1 to 12"),
        ("2026-THANG", "is not a period key"),
    ):
        with pytest.raises(ConfigurationError, match=message):
            run_for(regime, key)


def test_the_calendar_refuses_a_year_it_has_no_holidays_for() -> None:
    assert not is_working_day(date(2099, 9, 2))  # National Day, the last year the calendar answers for
    covers = "the calendar covers 2000-2099"
    with pytest.raises(ConfigurationError, match=f"no public holidays are known for 2101: {covers}"):
        is_working_day(date(2101, 9, 2))
    with pytest.raises(ConfigurationError, match="no public holidays are known for 1999"):
        is_working_day(date(1999, 9, 2))
