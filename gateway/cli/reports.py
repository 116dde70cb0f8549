"""Reports after sending: revisions, corrections, recalls."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gateway.cli.common import (
    ConfigOpt,
    app,
    console,
    gateway_for,
)
from gateway.cli.output import FormatOpt, Listing

reports_app = typer.Typer(help="Reports after sending: revisions, corrections, recalls.", no_args_is_help=True)
app.add_typer(reports_app, name="reports")


@reports_app.command("list")
def reports_list(
    config: ConfigOpt = None,
    period: Annotated[str | None, typer.Option(help="e.g. 2026-THANG-10")] = None,
    limit: Annotated[int, typer.Option()] = 50,
    fmt: FormatOpt = "table",
) -> None:
    """Report packets (every revision) with the receiver's latest answer."""
    from sqlalchemy import select

    from gateway.cli import checks

    if period:
        period = checks.period_key(period)

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
    columns = ("MaGoiTin", "regime", "form", "period", "unit", "LanGui", "destination", "state", "answer", "reason")
    table = Listing(fmt, *columns)
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
                d.ack_reason or "",
            )
    table.emit()


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
    from gateway.cli import checks
    from gateway.lifecycle import ReportKey, correct

    regime, period = checks.regime(regime), checks.period_key(period)

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


@reports_app.command("send-narrative")
def reports_send_narrative(
    regime: Annotated[str, typer.Option(help="regime code, e.g. KTXH-THANG")],
    period: Annotated[str, typer.Option(help="e.g. 2026-THANG-10")],
    outline: Annotated[str, typer.Option(help="outline code (mappings/outlines/CODE.yaml)")],
    number: Annotated[str, typer.Option("--number", help="the covering document's number (SoKyHieu)")],
    summary: Annotated[str, typer.Option(help="the covering document's summary (TrichYeu)")],
    signer_name: Annotated[str, typer.Option(help="who signed the document (HoTen)")],
    signer_title: Annotated[str, typer.Option(help="their position (ChucVu)")],
    section: Annotated[
        list[str] | None, typer.Option("--section", help="SECTION=FILE.md, once per section (UTF-8 Markdown)")
    ] = None,
    attach: Annotated[
        list[Path] | None, typer.Option("--attach", help="file to attach; a PDF must be signed by our unit")
    ] = None,
    issued_on: Annotated[str | None, typer.Option(help="the document's date, YYYY-MM-DD; default today")] = None,
    config: ConfigOpt = None,
    actor: Annotated[str, typer.Option()] = "cli",
) -> None:
    """Send a narrative report (GUI_DE_CUONG): the outline's sections from Markdown files and the signed
    document attached. PDF signatures are verified and SHA-256 computed before anything is queued."""
    from datetime import date

    from gateway.clock import VN_TZ
    from gateway.reports.narrative import DocumentInfo, NarrativeRequest, send_narrative

    sections: dict[str, Path] = {}
    for item in section or []:
        code, sep, file = item.partition("=")
        if not sep or not code or not file:
            raise typer.BadParameter(f"--section {item!r}: expected SECTION=FILE.md")
        if code in sections:
            raise typer.BadParameter(f"--section {code} given twice")
        sections[code] = Path(file)
    gw = gateway_for(config)
    try:
        day = date.fromisoformat(issued_on) if issued_on else gw.clock.now().astimezone(VN_TZ).date()
    except ValueError as exc:
        raise typer.BadParameter(f"--issued-on {issued_on!r}: expected YYYY-MM-DD") from exc
    sent = send_narrative(
        gw,
        NarrativeRequest(
            regime=regime,
            period_key=period,
            outline=outline,
            sections=sections,
            attachments=list(attach or []),
            document=DocumentInfo(number, day, summary, signer_name, signer_title),
        ),
        actor=f"operator:{actor}",
    )
    console.print(f"narrative report queued as packet {sent.packet_id} (LanGui {sent.revision})")
    for name, digest in sent.attachments:
        console.print(f"  attached {name} sha256={digest}")


@reports_app.command("send-kpis")
def reports_send_kpis(
    regime: Annotated[str, typer.Option(help="regime code, e.g. KTXH-THANG")],
    period: Annotated[str, typer.Option(help="e.g. 2026-THANG-10")],
    config: ConfigOpt = None,
    actor: Annotated[str, typer.Option()] = "cli",
) -> None:
    """Send the period's KPI data (DU_LIEU_CHI_SO) again as a revision: the scheduler sends it first as
    preliminary (SO_BO), each revision is official (CHINH_THUC)."""
    from gateway.reports.kpis import send_kpis

    for built in send_kpis(gateway_for(config), regime, period, actor=f"operator:{actor}"):
        console.print(
            f"KPI data queued as packet {built.packet_id}: {built.values} values, {built.figure_status.value}"
        )
