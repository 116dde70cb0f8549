"""The report calendar and the scheduler's record: calendar, runs."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from gateway.cli.common import (
    ConfigOpt,
    app,
    console,
    gateway_for,
)
from gateway.cli.output import FormatOpt, Listing


@app.command("calendar")
def calendar_cmd(
    year: Annotated[int, typer.Option(help="calendar year")],
    regime: Annotated[str | None, typer.Option(help="a regime code from mappings/regimes")] = None,
    frequency: Annotated[str | None, typer.Option(help="THANG, QUY, 6THANG, 9THANG or NAM")] = None,
    deadline_day: Annotated[int | None, typer.Option(help="deadline: day N of the period's last month")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Periods, data windows and deadlines (nominal and effective) of one year."""
    from gateway.calendar.regimes import check, load_regime, regime_for, runs

    if regime:
        chosen = load_regime(regime)
    elif frequency and deadline_day:
        chosen = regime_for(frequency, deadline_day)
        check(chosen, years=range(year, year + 1))
    else:
        raise typer.BadParameter("give --regime CODE, or --frequency and --deadline-day")
    rows = [r.as_row() for r in runs(chosen, year)]
    if fmt == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(*rows[0].keys(), title=f"{chosen.code}: {chosen.name} ({year})")
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)


@app.command("runs")
def runs_list(config: ConfigOpt = None, limit: Annotated[int, typer.Option()] = 50, fmt: FormatOpt = "table") -> None:
    """Scheduled runs executed so far, newest first, with late flags."""
    from sqlalchemy import select

    from gateway.db.models import ScheduledRun

    gw = gateway_for(config)
    table = Listing(fmt, "regime", "period", "deadline", "executed", "by", "packets", "late", "note")
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
