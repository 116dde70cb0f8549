"""Report regimes as data (``mappings/regimes/*.yaml``) and the calendar of each regime's runs.

A regime names its frequency, its data window rule (Decree 09 cut-off by default, or the calendar
period), its deadline rule (day N of the period's last month, or N working days after the data
window; the Government's default is the 25th, Decree 09 art. 13), its destinations, forms and
indicators, and a lead time: how many days before the effective deadline the report is pushed.
A regime whose deadline leaves less than one working day after its data window is refused (Decree
09 art. 8.5), naming the first period where that happens; so is a lead time that would push a
report before its data window has ended (the data is not all in yet).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from adapters.base import period_ref
from gateway import resources
from gateway.calendar import (
    FREQUENCIES,
    PERIODS_PER_YEAR,
    YEARS,
    IsoDate,
    WorkingCalendar,
    _clamp,
    data_window,
    default_calendar,
    describe,
    load_yaml,
)
from gateway.calendar import last_month_of as _last_month
from gateway.errors import ConfigurationError
from gateway.packets import period as m

REGIMES_DIR = resources.bundled("regimes")  # the shipped regimes; operators add or override on the search path


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CutOffRule(_Closed):
    """Decree 09 cut-off days, or ``calendar: true`` for regimes that use calendar periods."""

    start_day: int = Field(default=15, ge=1, le=31)
    end_day: int = Field(default=14, ge=1, le=31)
    calendar: bool = False


class DeadlineRule(_Closed):
    day_of_month: int | None = Field(default=None, ge=1, le=31)
    working_days_after_cutoff: int | None = Field(default=None, ge=1, le=60)

    @model_validator(mode="after")
    def _exactly_one(self) -> DeadlineRule:
        if (self.day_of_month is None) == (self.working_days_after_cutoff is None):
            raise ValueError("give exactly one of day_of_month and working_days_after_cutoff")
        return self


class ApprovalRule(_Closed):
    """Approval before sending (Đồng Tháp art. 16; Đồng Nai: separate entry and approval accounts)."""

    required: bool = False
    warn_hours: float = Field(default=24.0, gt=0, description="flag a report still waiting this close to its deadline")


class ListReport(_Closed):
    """A list-type report (``SO_LIEU_DANH_SACH``) the scheduler sends with each run of the regime."""

    form: str = Field(description="the list form's code (MaBieuMau)")
    template: str = Field(description="a layout of kind list: mappings/templates/NAME.yaml, or a path")
    source: str = Field(
        description="the list for a period, XLSX or CSV: a path where {period} is the period key "
        "(2026-THANG-10); relative to data_dir"
    )
    unit: str | None = Field(default=None, description="reporting unit code; default: our sender code")


class RegimeDef(_Closed):
    code: str
    name: str
    regime_type: Literal["DINH_KY", "CHUYEN_DE", "DOT_XUAT"] = "DINH_KY"
    frequency: Literal["THANG", "QUY", "6THANG", "9THANG", "NAM"]
    cutoff: CutOffRule = CutOffRule()
    deadline: DeadlineRule = DeadlineRule(day_of_month=25)
    destinations: list[str]
    forms: list[str]
    indicators: list[str] = []
    lead_days: int = Field(default=0, ge=0, le=60, description="push this many days before the deadline")
    approval: ApprovalRule = ApprovalRule()
    lists: list[ListReport] = Field(default=[], description="list-type reports sent with each run")
    start: IsoDate = Field(default=date(2026, 1, 1), description="first period the scheduler produces")

    @field_validator("start")
    @classmethod
    def _known_year(cls, value: date) -> date:
        if value.year not in YEARS:
            raise ValueError(f"{value} is outside the years the calendar covers ({YEARS.start}-{YEARS.stop - 1})")
        return value


@dataclass(frozen=True)
class Run:
    """One run of a regime: a period with its data window and deadlines."""

    regime: str
    period: m.Period
    nominal_deadline: date
    deadline: date
    push_on: date

    @property
    def key(self) -> str:
        return self.period.key

    def check_closed(self, today: date) -> None:
        """Refuse to send the period's report while its data window is open: a report sent by hand
        (``reports correct`` of a report never sent, ``send-list``, ``send-kpis``) went out as LanGui 1
        for December on 2 December, before the values it stands for existed (found from outside)."""
        from gateway.errors import InputError

        if today <= self.period.end:
            raise InputError(
                f"{self.key} is still open: its data window ends {self.period.end}, and the scheduler sends "
                f"its report on {self.push_on} (deadline {self.deadline}); nothing is sent before the window ends"
            )

    def as_row(self) -> dict[str, object]:
        p = self.period
        return {
            "LoaiKy": p.period_type.value,
            "SoKy": p.number,
            "Nam": p.year,
            "TuNgay": p.start.isoformat(),
            "DenNgay": p.end.isoformat(),
            "HanGuiDanhNghia": self.nominal_deadline.isoformat(),
            "HanGui": self.deadline.isoformat(),
        }


def runs(regime: RegimeDef, year: int, cal: WorkingCalendar | None = None) -> list[Run]:
    """Every run of ``regime`` whose period belongs to ``year``."""
    cal = cal or default_calendar()
    out = []
    for number in range(1, PERIODS_PER_YEAR[regime.frequency] + 1):
        c = regime.cutoff
        start, end = (
            data_window(regime.frequency, number, year, None, None)
            if c.calendar
            else data_window(regime.frequency, number, year, c.start_day, c.end_day)
        )
        period = m.Period(period_type=m.PeriodType(regime.frequency), number=number, year=year, start=start, end=end)
        rule = regime.deadline
        if rule.day_of_month is not None:
            nominal = _clamp(year, _last_month(regime.frequency, number), rule.day_of_month)
            effective = cal.next_working_day(nominal)
        else:
            assert rule.working_days_after_cutoff is not None
            nominal = effective = cal.add_working_days(end, rule.working_days_after_cutoff)
        out.append(Run(regime.code, period, nominal, effective, _push_on(effective, end, regime.lead_days)))
    return out


def _push_on(deadline: date, window_end: date, lead_days: int) -> date:
    """``lead_days`` before the deadline, but never before the day after the data window ends: the
    period's data is not all in before then. Loading a regime refuses a lead time that reaches into
    its window (:func:`check`, six years from its start); this holds for any year the scheduler
    reaches and for a regime made in code, which is never checked."""
    return max(deadline - timedelta(days=lead_days), window_end + timedelta(days=1))


def run_for(regime: RegimeDef, period_key: str, cal: WorkingCalendar | None = None) -> Run:
    """The run of ``regime`` for a ``MaKy`` such as ``2026-THANG-10``. The key is checked here too:
    ``2026-THANG-0`` used to index from the end and answer with December."""
    parts = period_key.split("-")
    year, ptype, number = parts if len(parts) == 3 else ("", "", "")
    if not (year.isdigit() and number.isdigit()):
        raise ConfigurationError(f"{period_key!r} is not a period key such as 2026-THANG-10")
    if ptype != regime.frequency:
        raise ConfigurationError(f"regime {regime.code} is {regime.frequency}, not {ptype} ({period_key})")
    checked = period_ref(ptype, int(number), int(year))
    if isinstance(checked, str):
        raise ConfigurationError(checked)
    return runs(regime, checked.year, cal)[checked.number - 1]


def check(regime: RegimeDef, cal: WorkingCalendar | None = None, years: range | None = None) -> None:
    """Decree 09 art. 8.5: at least one working day between the end of the data window and the deadline.

    This is a property of the regime's rule, so it is checked with weekends only: a public holiday
    moves a deadline later (Tết can leave no working day between the two in February), it does not
    make the rule unlawful."""
    cal = cal or WorkingCalendar(public_holidays=False)
    years = years or range(regime.start.year, regime.start.year + 6)
    checked = [run for year in years for run in runs(regime, year, cal)]
    for run in checked:
        if cal.working_days_between(run.period.end, run.deadline) < 1:
            raise ConfigurationError(
                f"regime {regime.code}: the deadline {run.deadline} of {run.key} leaves no working day after "
                f"its data window ends ({run.period.end}); Decree 09/2019/NĐ-CP art. 8.5 requires at least one"
            )
    _check_lead(regime, checked)


def _check_lead(regime: RegimeDef, checked: list[Run]) -> None:
    """A lead time that would push a report on or before the last day of its data window is refused,
    rather than quietly pushed later: the operator asked for that many days and should learn that the
    rule cannot give them (and how many it can), not find the report sent on another day."""
    if regime.lead_days == 0:
        return
    room = min((run.deadline - run.period.end).days - 1 for run in checked)
    for run in checked:
        push_on = run.deadline - timedelta(days=regime.lead_days)
        if push_on <= run.period.end:
            raise ConfigurationError(
                f"regime {regime.code}: lead_days {regime.lead_days} would push {run.key} on {push_on}, before "
                f"its data window has ended ({run.period.end}); lead_days may be at most {max(room, 0)} for this "
                "deadline rule"
            )


def regime_for(frequency: str, deadline_day: int, code: str = "AD-HOC") -> RegimeDef:
    if frequency not in FREQUENCIES:
        raise ConfigurationError(f"unknown frequency {frequency!r}; one of {', '.join(FREQUENCIES)}")
    return RegimeDef(
        code=code,
        name=code,
        frequency=frequency,
        deadline=DeadlineRule(day_of_month=deadline_day),
        destinations=[],
        forms=[],
    )


_SOURCES: dict[str, Path] = {}
"""Where each loaded regime came from, to name the file in configuration errors."""


def regime_path(code: str, directory: Path | None = None) -> Path:
    """The file a regime is declared in (named in configuration errors)."""
    return _SOURCES.get(code) or _regime_files(directory).get(code) or (directory or REGIMES_DIR) / f"{code}.yaml"


def _regime_files(directory: Path | None) -> dict[str, Path]:
    if directory is not None:
        return {p.stem: p for p in sorted(directory.glob("*.yaml"))}
    return {Path(name).stem: path for name, path in resources.listing("regimes", "*.yaml").items()}


def load_regime(code: str, directory: Path | None = None) -> RegimeDef:
    """The regime ``code`` from ``directory``, or else from the search path (an operator's
    ``{data_dir}/regimes`` or ``[resources] regimes_dir`` before the shipped regimes)."""
    found = _regime_files(directory)
    if code not in found:
        looked = directory or ", ".join(str(p) for p in resources.search_path("regimes"))
        raise ConfigurationError(f"unknown regime {code!r} (looked in {looked}); known: {sorted(found)}")
    return _load_regime_file(found[code])


@cache
def _load_regime_file(path: Path) -> RegimeDef:
    try:
        regime = RegimeDef.model_validate(load_yaml(path, "regime"))
    except ValidationError as exc:
        raise ConfigurationError(f"regime {path}: {describe(exc, RegimeDef)}") from exc
    try:
        check(regime)
    except ConfigurationError as exc:  # the rule is the file's: name it, as every other regime error does
        raise ConfigurationError(f"{path}: {exc}") from exc
    _SOURCES[regime.code] = path
    return regime


def all_regimes(directory: Path | None = None) -> list[RegimeDef]:
    return [_load_regime_file(path) for path in _regime_files(directory).values()]
