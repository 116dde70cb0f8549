"""Reports after sending: revisions, corrections, recalls."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from gateway.cli.common import (
    ConfigOpt,
    app,
    console,
    gateway_for,
)

reports_app = typer.Typer(help="Reports after sending: revisions, corrections, recalls.", no_args_is_help=True)
app.add_typer(reports_app, name="reports")


@reports_app.command("list")
def reports_list(
    config: ConfigOpt = None,
    period: Annotated[str | None, typer.Option(help="e.g. 2026-THANG-10")] = None,
    limit: Annotated[int, typer.Option()] = 50,
) -> None:
    """Report packets (every revision) with the receiver's latest answer."""
    from sqlalchemy import select

    from gateway.db.models import Delivery, Packet

    gw = gateway_for(config)
    query = (
        select(Packet, Delivery)
        .join(Delivery, Delivery.packet_id == Packet.id)
        .where(Packet.packet_type == "SO_LIEU_BAO_CAO")
        .order_by(Packet.created_at.desc())
        .limit(limit)
    )
    if period:
        query = query.where(Packet.period_key == period)
    table = Table("MaGoiTin", "regime", "form", "period", "unit", "LanGui", "destination", "state", "answer", "reason")
    with gw.sessions() as session:
        for p, d in session.execute(query):
            table.add_row(
                p.id,
                p.regime_code or "",
                p.form_code or "",
                p.period_key or "",
                p.reporting_unit or "",
                str(p.revision),
                d.destination,
                d.state,
                d.ack_status or "",
                (d.ack_reason or "")[:50],
            )
    console.print(table)


@reports_app.command("correct")
def reports_correct(
    regime: Annotated[str, typer.Option()],
    form: Annotated[str, typer.Option()],
    period: Annotated[str, typer.Option()],
    reason: Annotated[str, typer.Option(help="why (recorded in the audit log)")],
    unit: Annotated[str | None, typer.Option(help="reporting unit code; default: our sender code")] = None,
    config: ConfigOpt = None,
    actor: Annotated[str, typer.Option()] = "cli",
) -> None:
    """Build and send the next revision (LanGui n+1) of a report from its latest observations."""
    from gateway.lifecycle import ReportKey, correct

    gw = gateway_for(config)
    built = correct(
        gw, ReportKey(regime, form, period, unit or gw.settings.sender.code), actor=f"operator:{actor}", reason=reason
    )
    console.print(f"revision queued as packet {built.packet_id} ({built.values} values)")


@reports_app.command("recall")
def reports_recall(
    packet_id: str,
    reason: Annotated[str | None, typer.Option()] = None,
    config: ConfigOpt = None,
    actor: Annotated[str, typer.Option()] = "cli",
) -> None:
    """Recall (DA_THU_HOI) a report the receiver has not approved yet."""
    from gateway.lifecycle import recall

    console.print(
        f"recall sent as packet {recall(gateway_for(config), packet_id, actor=f'operator:{actor}', reason=reason)}"
    )


@reports_app.command("request-correction")
def reports_request_correction(
    packet_id: str,
    reason: Annotated[str, typer.Option()],
    config: ConfigOpt = None,
    actor: Annotated[str, typer.Option()] = "cli",
) -> None:
    """Ask the host agency to reopen an approved report (YEU_CAU_DINH_CHINH)."""
    from gateway.lifecycle import request_correction

    sent = request_correction(gateway_for(config), packet_id, actor=f"operator:{actor}", reason=reason)
    console.print(f"correction request sent as packet {sent}")
