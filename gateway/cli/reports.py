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
from gateway.cli.output import FormatOpt, LimitOpt, Listing

reports_app = typer.Typer(help="Reports after sending: revisions, corrections, recalls.", no_args_is_help=True)
app.add_typer(reports_app, name="reports")


@reports_app.command("list")
def reports_list(
    config: ConfigOpt = None,
    period: Annotated[str | None, typer.Option(help="e.g. 2026-THANG-10")] = None,
    limit: LimitOpt = 50,
    fmt: FormatOpt = "table",
) -> None:
    """Report packets (every revision) with the receiver's latest answer."""
    from sqlalchemy import select

    from gateway.cli import checks

    if period:
        period = checks.period_key(period)

    from gateway.db.models import Delivery, Packet

    columns = ("MaGoiTin", "regime", "form", "period", "unit", "LanGui", "destination", "state", "answer", "reason")
    table = Listing(fmt, *columns)
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
    with gw.sessions() as session:
        for p, d in session.execute(query):
            table.add_row(
                p.id,
                p.regime_code or "",
                p.form_code or "",
                p.period_key or "",
                p.reporting_unit or "",
                p.revision,
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

    from gateway.cli import checks
    from gateway.clock import VN_TZ
    from gateway.reports.narrative import DocumentInfo, NarrativeRequest, send_narrative

    regime, period = checks.regime(regime), checks.period_key(period)
    sections: dict[str, Path] = {}
    for item in section or []:
        code, sep, file = item.partition("=")
        if not sep or not code or not file:
            raise checks.CommandInputError(f"--section {item!r}: expected SECTION=FILE.md")
        if code in sections:
            raise checks.CommandInputError(f"--section {code} given twice")
        sections[code] = checks.readable_file(Path(file), f"section {code} file")
    for path in attach or []:
        checks.readable_file(path, "attachment")
    try:
        given_day = date.fromisoformat(issued_on) if issued_on else None
    except ValueError as exc:
        raise checks.CommandInputError(f"--issued-on {issued_on!r}: expected a date YYYY-MM-DD") from exc
    gw = gateway_for(config)
    day = given_day or gw.clock.now().astimezone(VN_TZ).date()
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
    from gateway.cli import checks
    from gateway.reports.kpis import send_kpis

    regime, period = checks.regime(regime), checks.period_key(period)
    for built in send_kpis(gateway_for(config), regime, period, actor=f"operator:{actor}"):
        console.print(
            f"KPI data queued as packet {built.packet_id}: {built.values} values, {built.figure_status.value}"
        )


@reports_app.command("send-list")
def reports_send_list(
    source: Annotated[Path, typer.Argument(help="the list, XLSX or CSV")],
    regime: Annotated[str, typer.Option(help="regime code, e.g. KTXH-THANG")],
    form: Annotated[str, typer.Option(help="the list form's code (MaBieuMau)")],
    period: Annotated[str, typer.Option(help="e.g. 2026-THANG-10")],
    template: Annotated[str, typer.Option(help="a layout of kind list (mappings/templates/NAME.yaml or a path)")],
    unit: Annotated[str | None, typer.Option(help="reporting unit code; default: our sender code")] = None,
    config: ConfigOpt = None,
    actor: Annotated[str, typer.Option()] = "cli",
) -> None:
    """Send a list-type report (SO_LIEU_DANH_SACH): every row of the list becomes a record."""
    from adapters.template_spec import TemplateError, load_template, resolve
    from gateway.cli import checks
    from gateway.reports.lists import send_list

    checks.readable_file(source, "list file")
    regime, period = checks.regime(regime), checks.period_key(period)
    try:
        spec = load_template(resolve(template if template.endswith((".yaml", ".yml")) else f"{template}.yaml"))
    except TemplateError as exc:
        raise checks.CommandInputError(f"--template {template!r}: {exc}") from exc
    adapter = "csv" if source.suffix.lower() in (".csv", ".txt") else "xlsx"
    sent = send_list(
        gateway_for(config),
        regime_code=regime,
        form=form,
        period_key=period,
        source=source,
        spec=spec,
        adapter=adapter,
        actor=f"operator:{actor}",
        unit_code=unit,
    )
    console.print(f"list report queued as packet {sent.packet_id}: {sent.records} records (LanGui {sent.revision})")


@reports_app.command("approvals")
def reports_approvals(
    config: ConfigOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="include approved and rejected reports")] = False,
    fmt: FormatOpt = "table",
    show: Annotated[
        int | None, typer.Option("--show", min=1, help="one report's figures, each beside the source's value")
    ] = None,
) -> None:
    """Reports of regimes that need approval, waiting for an approver (flagged near their deadline);
    with --show ID, that report's figures reconciled against the source (match, changed, ...)."""
    from gateway.clock import as_utc
    from gateway.reports.approval import detail, listing

    if show is not None:
        shown = detail(gateway_for(config), show)
        counts = ", ".join(f"{name}={count}" for name, count in shown.summary.items())
        figures = Listing(
            fmt,
            "indicator",
            "column",
            "disaggregation",
            "unit",
            "reported",
            "source",
            "classification",
            "source_ref",
            title=f"report {show} ({shown.waiting.state}, MaGoiTin {shown.waiting.packet_id}): {counts}",
        )
        for x in shown.lines:
            figures.add_row(
                x.indicator, x.column, x.disaggregation, x.unit, x.reported, x.source, x.classification, x.source_ref
            )
        figures.emit()
        return
    columns = ("id", "MaGoiTin", "regime", "form", "period", "unit", "values", "state", "decided_by", "prepared_by")
    table = Listing(fmt, *columns, "deadline", "due_soon")
    gw = gateway_for(config)
    now = gw.clock.now()
    for a in listing(gw, include_decided=all_):
        table.add_row(
            a.id,
            a.packet_id,
            a.regime,
            a.form,
            a.period,
            a.unit,
            a.values,
            a.state,
            a.decided_by or "",
            a.prepared_by,
            a.deadline,
            # Past its deadline is not "due soon" (it read DUE SOON weeks after): LATE says what it is.
            ("LATE" if as_utc(a.deadline) < now else "DUE SOON") if a.due_soon else "",
        )
    table.emit()


@reports_app.command("approve")
def reports_approve(
    approval: int,
    as_: Annotated[str, typer.Option("--as", help="the approver's account (role approver, not the preparer)")],
    config: ConfigOpt = None,
) -> None:
    """Approve a report: it is signed and queued now."""
    from gateway.cli import checks
    from gateway.reports.approval import approve

    gw = gateway_for(config)
    checks.account(gw, as_)
    console.print(f"report approved and queued as packet {approve(gw, approval, approver=as_)}")


@reports_app.command("reject")
def reports_reject(
    approval: int,
    as_: Annotated[str, typer.Option("--as", help="the approver's account (role approver, not the preparer)")],
    reason: Annotated[str, typer.Option(help="why; sent back to the source system with the report")],
    config: ConfigOpt = None,
) -> None:
    """Reject a report with a reason: it goes back to the source system as a returned report."""
    from gateway.cli import checks
    from gateway.reports.approval import reject

    gw = gateway_for(config)
    checks.account(gw, as_)
    returned = reject(gw, approval, approver=as_, reason=reason)
    console.print(
        f"report rejected; returned to the source as packet {returned}"
        if returned
        else "report rejected (no forward_returns_to destination: nothing sent back)"
    )
