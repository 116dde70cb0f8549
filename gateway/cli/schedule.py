"""The report calendar and the scheduler's record: calendar, runs."""

from __future__ import annotations

from typing import Annotated

import typer

from gateway.cli.common import (
    ConfigOpt,
    app,
    gateway_for,
)
from gateway.cli.output import FormatOpt, LimitOpt, Listing


@app.command("calendar")
def calendar_cmd(
    year: Annotated[int, typer.Option(min=1900, max=2999, help="calendar year")],
    regime: Annotated[str | None, typer.Option(help="a regime code from mappings/regimes")] = None,
    frequency: Annotated[str | None, typer.Option(help="THANG, QUY, 6THANG, 9THANG or NAM")] = None,
    deadline_day: Annotated[
        int | None, typer.Option(min=1, max=31, help="deadline: day N of the period's last month")
    ] = None,
    fmt: FormatOpt = "table",
) -> None:
    """Periods, data windows and deadlines (nominal and effective) of one year."""
    from gateway.calendar import FREQUENCIES
    from gateway.calendar.regimes import check, load_regime, regime_for, runs
    from gateway.cli import checks

    if regime:
        chosen = load_regime(checks.regime(regime))
    elif frequency and deadline_day:
        chosen = regime_for(checks.one_of(frequency, FREQUENCIES, "frequency"), deadline_day)
        check(chosen, years=range(year, year + 1))
    else:
        raise checks.CommandInputError("give --regime CODE, or --frequency and --deadline-day")
    rows = [r.as_row() for r in runs(chosen, year)]
    table = Listing(fmt, *(rows[0].keys() if rows else ()), title=f"{chosen.code}: {chosen.name} ({year})")
    for row in rows:
        table.add_row(*row.values())
    table.emit()


@app.command("runs")
def runs_list(config: ConfigOpt = None, limit: LimitOpt = 50, fmt: FormatOpt = "table") -> None:
    """Scheduled runs executed so far, newest first, with late flags."""
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
                r.executed_at.isoformat(timespec="minutes"),
                r.executed_by,
                str(r.packets),
                "LATE" if r.late else "",
                r.note or "",
            )
    table.emit()
