"""The report calendar and the scheduler's record: calendar, runs."""

from __future__ import annotations

from typing import Annotated

import typer

from gateway.cli.common import (
    ConfigOpt,
    app,
    gateway_for,
    settings_for,
)
from gateway.cli.output import FormatOpt, LimitOpt, Listing


@app.command("calendar")
def calendar_cmd(
    year: Annotated[int, typer.Option(help="calendar year, 2000-2099 (the years with holiday data)")],
    regime: Annotated[
        str | None, typer.Option(help="a regime code (mappings/regimes, {data_dir}/regimes, resources.regimes_dir)")
    ] = None,
    frequency: Annotated[str | None, typer.Option(help="THANG, QUY, 6THANG, 9THANG or NAM")] = None,
    deadline_day: Annotated[
        int | None, typer.Option(min=1, max=31, help="deadline: day N of the period's last month")
    ] = None,
    config: ConfigOpt = None,
    fmt: FormatOpt = "table",
) -> None:
    """Periods, data windows and deadlines (nominal and effective) of one year, read with the regimes
    and holiday overrides the scheduler uses: the configured folders and the data folder's first, then
    the shipped ones."""
    from gateway.calendar import FREQUENCIES, YEARS
    from gateway.calendar.regimes import check, load_regime, regime_for, runs
    from gateway.cli import checks

    _one_way_to_choose(regime, frequency, deadline_day)
    if year not in YEARS:
        raise checks.CommandInputError(
            f"--year {year}: the calendar covers {YEARS.start}-{YEARS.stop - 1} "
            "(the years the `holidays` package has Vietnam's public holidays for)"
        )
    settings_for(config)  # the search path of regimes and holiday overrides, as the scheduler's
    if regime:
        chosen = load_regime(checks.regime(regime))
    else:
        assert frequency is not None and deadline_day is not None
        chosen = regime_for(checks.one_of(frequency, FREQUENCIES, "frequency"), deadline_day)
        check(chosen, years=range(year, year + 1))
    rows = [r.as_row() for r in runs(chosen, year)]
    table = Listing(fmt, *(rows[0].keys() if rows else ()), title=f"{chosen.code}: {chosen.name} ({year})")
    for row in rows:
        table.add_row(*row.values())
    table.emit()


def _one_way_to_choose(regime: str | None, frequency: str | None, deadline_day: int | None) -> None:
    """A regime, or a frequency with a deadline day: never both (which would win was a guess the
    command made silently: the regime), never half of the second."""
    from gateway.cli import checks

    ad_hoc = [name for name, given in (("--frequency", frequency), ("--deadline-day", deadline_day)) if given]
    if regime and ad_hoc:
        raise checks.CommandInputError(
            f"--regime cannot be given with {' and '.join(ad_hoc)}: a regime has its own frequency and "
            "deadline; give --regime CODE, or --frequency and --deadline-day"
        )
    if len(ad_hoc) == 1:
        missing = "--deadline-day" if frequency else "--frequency"
        raise checks.CommandInputError(f"{ad_hoc[0]} needs {missing} (or give --regime CODE instead)")
    if not regime and not ad_hoc:
        raise checks.CommandInputError("give --regime CODE, or --frequency and --deadline-day")


@app.command("runs")
def runs_list(config: ConfigOpt = None, limit: LimitOpt = 50, fmt: FormatOpt = "table") -> None:
    """Scheduled runs executed so far, newest first, with late flags; times in Vietnam time (+07:00)."""
    from sqlalchemy import select

    from gateway.db.models import ScheduledRun

    table = Listing(fmt, "regime", "period", "deadline", "executed", "by", "packets", "late", "note")
    gw = gateway_for(config)
    with gw.sessions() as session:
        for r in session.scalars(select(ScheduledRun).order_by(ScheduledRun.id.desc()).limit(limit)):
            table.add_row(
                r.regime_code,
                r.period_key,
                r.deadline.isoformat(),
                r.executed_at,  # Vietnam's time with its offset (``Listing``): the deadlines are Vietnamese days
                r.executed_by,
                r.packets,  # a number in JSON, as a program reading it expects
                "LATE" if r.late else "",
                r.note or "",
            )
    table.emit()
