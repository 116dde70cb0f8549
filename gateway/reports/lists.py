"""List-type reports (``SO_LIEU_DANH_SACH``): a provincial list (projects, units, cases ...) read
through a template layout of ``kind: list`` and sent as records.

The layout is the same data as any template (``mappings/templates/*.yaml``, read by the templates
reader's grid, XLSX or CSV): its header rows name the columns, each ``values`` entry matches a column
by its header text and gives the ``MaCot`` it is sent as, ``columns.code`` is the column that makes a
row a record (a row with it empty is a heading or a blank), ``columns.row_number`` (STT) gives the
record's ordinal, and ``end_marker`` ends the table at the signatures. Every record keeps every value
column, an empty cell as an empty ``GiaTri`` (a list has no blanks to drop). A problem (a limit
reached, a damaged file, a value column the header does not have) is an error naming the file,
sheet and row: a list is sent whole or not at all.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from adapters.base import ReadProblem
from adapters.grid import GridSheet, HiddenSheet, column_index
from adapters.template_reader import TemplateReader
from adapters.template_spec import ColumnRef, TemplateSpec, compile_header, fold
from gateway.bootstrap import Gateway
from gateway.calendar.regimes import ListReport, RegimeDef, Run, load_regime, run_for
from gateway.clock import VN_TZ
from gateway.db.models import Packet
from gateway.errors import InputError
from gateway.packets import model as m
from gateway.reports.queue import due_at, queue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SentList:
    packet_id: str
    revision: int
    records: int
    delivery_ids: list[int]


def _headers(sheet: GridSheet, spec: TemplateSpec) -> dict[int, str]:
    """Column -> header text (the header rows' texts joined with ' | ', folded as the layout says)."""
    columns: dict[int, list[str]] = {}
    for row in spec.header_rows:
        for col, cell in sorted(sheet.rows.get(row, {}).items()):
            if cell.text.strip():
                columns.setdefault(col, []).append(cell.text.strip())
    return {col: fold(" | ".join(parts), spec.header_match) for col, parts in columns.items()}


def _column(ref: ColumnRef, headers: dict[int, str], spec: TemplateSpec) -> int | None:
    if ref.column is not None:
        return column_index(ref.column)
    assert ref.header is not None
    pattern = compile_header(ref.header, spec.header_match)
    return next((col for col, text in sorted(headers.items()) if pattern.search(text)), None)


def read_records(path: Path, spec: TemplateSpec, adapter: str) -> list[m.Record]:
    """Every record of the list; ``InputError`` naming the place for anything that is not clean."""
    if spec.kind != "list":
        raise InputError(f"template {spec.name} is of kind {spec.kind}, not list", location=str(path))
    records: list[m.Record] = []
    end = re.compile(spec.end_marker) if spec.end_marker else None
    reader = TemplateReader(path, spec, adapter=adapter)
    for sheet in reader.sheets():
        if isinstance(sheet, ReadProblem):
            raise InputError(f"{sheet.ref}: {sheet.reason}", location=str(path))
        if isinstance(sheet, HiddenSheet):
            if reader.wanted(sheet.title):  # a list is sent whole: part of it hidden is for a person to settle
                raise InputError(f"{path}!{sheet.title}: {sheet.reason()}", location=str(path))
            continue  # a hidden sheet the layout does not select (a look-up list): not the list's
        if sheet.problems:
            first = sheet.problems[0]
            raise InputError(f"{first.ref}: {first.reason}", location=str(path))
        headers = _headers(sheet, spec)
        key = _column(spec.columns.code, headers, spec)
        ordinal_col = _column(spec.columns.row_number, headers, spec) if spec.columns.row_number else None
        fields: list[tuple[str, int]] = []
        for value in spec.values:
            pattern = compile_header(value.header, spec.header_match)
            col = next((c for c, text in sorted(headers.items()) if pattern.search(text)), None)
            if col is None or key is None:
                raise InputError(
                    f"{path} sheet {sheet.title}: no column whose header matches {value.header!r}"
                    if col is None
                    else f"{path} sheet {sheet.title}: the code column of template {spec.name} is not there",
                    location=f"{path} sheet {sheet.title} rows {spec.header_rows}",
                )
            fields.append((value.code or f"C{col}", col))
        for row in sorted(r for r in sheet.rows if r >= spec.data_start):
            cells = sheet.rows[row]
            if end is not None and any(end.search(c.text.strip()) for c in cells.values()):
                break
            if key is None or not (cells.get(key) and cells[key].text.strip()):
                continue  # a heading, a blank or a total row: not a record
            ordinal_text = cells[ordinal_col].text.strip() if ordinal_col and ordinal_col in cells else ""
            ordinal = int(ordinal_text) if ordinal_text.isdigit() else len(records) + 1
            records.append(
                m.Record(
                    ordinal=ordinal,
                    fields=[
                        m.RecordField(column_code=code, value=cells[col].text.strip() if col in cells else "")
                        for code, col in fields
                    ],
                )
            )
    if not records:
        raise InputError(f"{path}: no record found with template {spec.name}", location=str(path))
    return records


def build_list(
    session: Session,
    gw: Gateway,
    regime: RegimeDef,
    form: str,
    run: Run,
    records: list[m.Record],
    *,
    source: Path,
    actor: str,
    unit_code: str | None = None,
) -> SentList:
    """Revision n+1 of the list report, sealed per destination and queued in the caller's transaction
    (the caller publishes the wake-ups after commit)."""
    sender = gw.settings.sender
    code = unit_code or sender.code
    unit = m.Unit(code=code, name=sender.name if code == sender.code else code)
    now = gw.clock.now()
    local_now = now.astimezone(VN_TZ)
    revision = 1 + int(
        session.scalar(
            select(func.max(Packet.revision)).where(
                Packet.packet_type == m.PacketType.SO_LIEU_DANH_SACH.value,
                Packet.regime_code == regime.code,
                Packet.form_code == form,
                Packet.period_key == run.key,
                Packet.reporting_unit == code,
            )
        )
        or 0
    )
    envelope = m.Envelope(
        packet_id=uuid.uuid4(),
        packet_type=m.PacketType.SO_LIEU_DANH_SACH,
        profile=gw.profile.id,
        created_at=local_now,
        sender=m.Unit(code=sender.code, name=sender.name),
        receiver=unit,  # addressed per destination by queue
        body=m.ReportList(
            regime_code=regime.code,
            form_code=form,
            period=run.period,
            reporting_unit=unit,
            revision=revision,
            sent_at=local_now,
            records=records,
        ),
    )
    packet, deliveries = queue(
        session,
        envelope,
        regime.destinations,
        gw.settings.destinations,
        gw.sealer,
        now=now,
        value_count=len(records),
        deadline=due_at(run),
        actor=actor,
        event="report.list",
        subject=f"report:{regime.code}:{form}:{run.key}:{code}",
        detail={"revision": revision, "records": len(records), "source": str(source)},
    )
    return SentList(packet.id, revision, len(records), [d.id for d in deliveries])


def send_list(
    gw: Gateway,
    *,
    regime_code: str,
    form: str,
    period_key: str,
    source: Path,
    spec: TemplateSpec,
    adapter: str,
    actor: str,
    unit_code: str | None = None,
) -> SentList:
    """Read the list, build revision n+1 of the report, seal it per destination and queue it."""
    regime = load_regime(regime_code)
    run = run_for(regime, period_key)
    run.check_closed(gw.clock.now().astimezone(VN_TZ).date())
    records = read_records(source, spec, adapter)
    with gw.sessions.begin() as session:
        sent = build_list(session, gw, regime, form, run, records, source=source, actor=actor, unit_code=unit_code)
    gw.publish(sent.delivery_ids)
    return sent


def list_source(declared: ListReport, period_key: str, data_dir: Path) -> Path:
    """Where a declared list of a period is: ``{period}`` replaced, relative paths under ``data_dir``."""
    path = Path(declared.source.replace("{period}", period_key))
    return path if path.is_absolute() else data_dir / path


def adapter_for(path: Path) -> str:
    return "csv" if path.suffix.lower() in (".csv", ".txt") else "xlsx"


def scheduled_lists(
    session: Session, gw: Gateway, regime: RegimeDef, run: Run, *, actor: str
) -> tuple[list[SentList], list[str]]:
    """The list reports a regime declares (``lists:``), for the scheduler's run, in its transaction.

    A list whose file is missing or unreadable is not sent, and says so (the run's note, a warning in
    the log, the audit event of the run), naming the file and, for a bad one, the sheet and row; the
    rest of the run goes on. The operator sends it later with ``gateway reports send-list``. A regime
    that needs approval has no list sent by the scheduler: lists are not held for an approver, so a
    person sends them (``reports send-list``) once the report is approved."""
    from adapters.template_spec import TemplateError, load_template, resolve

    if regime.lists and regime.approval.required:
        return [], [f"list reports of {regime.code} wait for a person (approval required): gateway reports send-list"]
    sent: list[SentList] = []
    notes: list[str] = []
    for declared in regime.lists:
        path = list_source(declared, run.key, gw.settings.data_dir)
        try:
            if not path.is_file():
                raise InputError("no such file", location=str(path))
            name = declared.template
            spec = load_template(resolve(name if name.endswith((".yaml", ".yml")) else f"{name}.yaml"))
            records = read_records(path, spec, adapter_for(path))
        except (InputError, TemplateError, OSError) as exc:
            why = f"list {declared.form} not sent: {exc}; send it with gateway reports send-list"
            log.warning("run %s %s: %s", regime.code, run.key, why)
            notes.append(why)
            continue
        sent.append(
            build_list(
                session, gw, regime, declared.form, run, records, source=path, actor=actor, unit_code=declared.unit
            )
        )
    return sent, notes
