"""Reconciliation: source vs sent vs accepted."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gateway.cli.common import (
    ConfigOpt,
    app,
    console,
    err,
    gateway_for,
)


@app.command()
def reconcile(
    period: Annotated[str | None, typer.Option(help="e.g. 2026-THANG-10; default: the latest with data")] = None,
    regime: Annotated[str | None, typer.Option(help="regime code; default: all")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, xlsx or json")] = "table",
    out: Annotated[Path | None, typer.Option("-o", "--output", help="file (required for xlsx)")] = None,
    config: ConfigOpt = None,
) -> None:
    """What the source says vs what was sent vs what the receiver holds, each value classified."""
    from gateway.cli import checks
    from gateway.reconciliation.export import CLASS_TITLES, to_csv, to_xlsx

    checks.one_of(fmt, ("table", "csv", "xlsx", "json"), "--format")
    if fmt == "xlsx" and out is None:
        raise checks.CommandInputError("--format xlsx needs -o FILE.xlsx")
    if out is not None:
        checks.output_path(out, "output file")

    if period:
        period = checks.period_key(period)
    if regime:
        checks.regime(regime)
    gw = gateway_for(config)
    report = gw.reconcile(period=period, regime=regime)
    if report.period is None:
        err.print("no data to reconcile yet (no observations)", markup=False)
        raise typer.Exit(1)
    data: bytes
    if fmt == "xlsx":
        data = to_xlsx(report)
    elif fmt == "csv":
        data = to_csv(report).encode("utf-8")
    elif fmt == "json":
        data = (json.dumps(report.as_json(), ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    else:
        table = Table(
            "class", "Kết quả", "lines", title=f"Reconciliation {report.regime or 'all regimes'} {report.period}"
        )
        for name, count in report.summary.items():
            table.add_row(name, CLASS_TITLES[name], str(count))
        table.add_section()
        table.add_row("total", "Tổng", str(len(report.lines)))
        # Lateness is a fact beside the verdict: these lines are also counted above by their verdict.
        table.add_row("late", "Trong đó gửi muộn (sau hạn)", str(report.late))
        console.print(table)
        shown = [line for line in report.lines if line.classification != "match" or line.late][:50]
        if shown:
            detail = Table("unit", "indicator", "destination", "source", "sent", "receiver", "class", "late", "note")
            for line in shown:
                detail.add_row(
                    line.reporting_unit,
                    line.indicator + (f" [{line.disaggregation}]" if line.disaggregation else ""),
                    line.destination,
                    line.source_value or "",
                    line.sent_value or "",
                    line.receiver_value or "",
                    line.classification,
                    "late" if line.late else "",
                    "; ".join(note for note in (line.note, line.late_note) if note),
                )
            console.print(detail)
        return
    if out:
        out.write_bytes(data)
        err.print(f"wrote {out} ({len(report.lines)} lines)", markup=False)
    else:
        sys.stdout.buffer.write(data)
