"""The regime inbox: regimes, forms and outlines issued to us become proposals an admin decides on.

An accepted inbound ``CHE_DO_BAO_CAO``, ``BIEU_MAU_BAO_CAO`` or ``BIEU_MAU_DE_CUONG`` is drafted as the
YAML file it would become, in the operator's own folders (``{data_dir}/regimes/``, ``forms/``,
``outlines/``, found before the shipped files of the same name), with a unified diff against the file
in effect today, and waits. An admin accepts it (the file is written
atomically, audited) or declines it with a reason (audited): ``gateway regimes inbox | accept ID |
decline ID --reason``. Nothing changes what the gateway sends until a person says so.

Set-up deadline: a province must set a new regime up within 3 working days of receiving it (Bắc Kạn
rules); ``due_on`` is counted by the working calendar (weekends, public holidays, the year's
overrides), shown in the inbox, exported as ``gateway_regime_proposals_overdue`` and alerted on.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import audit, resources
from gateway.bootstrap import Gateway
from gateway.calendar import default_calendar
from gateway.calendar.regimes import RegimeDef, _load_regime_file, check, regime_path
from gateway.clock import VN_TZ
from gateway.db.models import InboundPacket, RegimeProposal
from gateway.errors import ConfigurationError, Conflict, InputError, NotFound
from gateway.packets import model as m
from gateway.reports.narrative import OutlineDef, load_outline
from mappings import yaml_files

SETUP_WORKING_DAYS = 3
FOLDERS = {"regime": "regimes", "form": "forms", "outline": "outlines"}
"""The folder under ``data_dir`` each kind is written to."""


@dataclass(frozen=True)
class Draft:
    kind: str
    code: str
    target: Path
    text: str


def in_effect(kind: str, code: str, data_dir: Path) -> Path | None:
    """The file of that kind and code the gateway reads today, if any."""
    candidates = {
        "regime": [regime_path(code)],
        "outline": [data_dir / "outlines" / f"{code}.yaml"]
        + [folder / f"{code}.yaml" for folder in resources.search_path("outlines")],
        "form": [data_dir / "forms" / f"{code}.yaml"],
    }[kind]
    return next((p for p in candidates if p.is_file()), None)


def _regime(body: m.Regime, received: date, data_dir: Path) -> dict[str, Any]:
    existing = in_effect("regime", body.regime_code, data_dir)
    destinations = ["national"]
    kept: dict[str, Any] = {}
    if existing is not None:
        current = yaml_files.safe_load(existing.read_text(encoding="utf-8")) or {}
        destinations = list(current.get("destinations") or destinations)
        # What the province configured, not the Government: kept across a new version of the regime.
        kept = {k: current[k] for k in ("approval", "lists", "lead_days") if k in current}
    deadline = (
        {"day_of_month": body.deadline.day_of_month}
        if body.deadline.day_of_month is not None
        else {"working_days_after_cutoff": body.deadline.days_after_cutoff}
    )
    return {
        "code": body.regime_code,
        "name": body.regime_name,
        "regime_type": body.regime_type.value,
        "frequency": body.frequency.value,
        "cutoff": {"start_day": body.cutoff.start_day, "end_day": body.cutoff.end_day},
        "deadline": deadline,
        "destinations": destinations,
        "forms": list(body.forms),
        "start": max(body.valid_for.start, received.replace(day=1)).isoformat(),
        **kept,
    }


def draft(packet: m.Envelope, received: date, data_dir: Path) -> Draft:
    """The YAML file the packet would become, with a header saying where it came from."""
    body = packet.body
    header = (
        f"# Proposed from {packet.packet_type.value} {packet.packet_id}, received {received.isoformat()} "
        f"from {packet.sender.code} ({packet.sender.name}).\n"
    )
    doc: dict[str, Any]
    if isinstance(body, m.Regime):
        kind, code = "regime", body.regime_code
        header += (
            f"# Legal basis: {body.legal_basis.document_number} of {body.legal_basis.issued_on.isoformat()}, "
            f"{body.legal_basis.issuer}; field {body.field}; valid from {body.valid_for.start.isoformat()}.\n"
        )
        doc = _regime(body, received, data_dir)
    elif isinstance(body, m.Form):
        kind, code = "form", body.form_code
        doc = body.model_dump(mode="json", exclude_none=True)
    elif isinstance(body, m.Outline):
        kind, code = "outline", body.outline_code
        doc = {
            "code": body.outline_code,
            "name": body.outline_name,
            "regime": body.regime_code,
            "sections": [
                {
                    k: v
                    for k, v in {
                        "code": s.section_code,
                        "title": s.title,
                        "guidance": s.guidance,
                        "parent": s.parent_section_code,
                    }.items()
                    if v is not None
                }
                for s in sorted(body.sections, key=lambda s: s.ordinal)
            ],
        }
    else:
        raise InputError(f"a {packet.packet_type.value} is not a regime, form or outline")
    text = header + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=100)
    return Draft(kind, code, data_dir / FOLDERS[kind] / f"{code}.yaml", text)


def due_date(received: datetime) -> date:
    """The set-up deadline: ``SETUP_WORKING_DAYS`` working days after the day of receipt (Vietnam time)."""
    return default_calendar().add_working_days(received.astimezone(VN_TZ).date(), SETUP_WORKING_DAYS)


def _diff(current: Path | None, target: Path, text: str) -> str:
    """What changes against the file in effect (``current``, perhaps a shipped one) once ``target`` is written."""
    before = current.read_text(encoding="utf-8").splitlines(keepends=True) if current is not None else []
    return "".join(
        difflib.unified_diff(
            before,
            text.splitlines(keepends=True),
            fromfile=f"a/{current}" if current is not None else "/dev/null",
            tofile=f"b/{target}",
        )
    )


def propose(
    session: Session, record: InboundPacket, packet: m.Envelope, *, now: datetime, data_dir: Path
) -> RegimeProposal:
    """Add the proposal for an accepted inbound regime, form or outline (in the caller's transaction)."""
    drafted = draft(packet, now.astimezone(VN_TZ).date(), data_dir)
    proposal = RegimeProposal(
        inbound_packet_id=record.id,
        kind=drafted.kind,
        code=drafted.code,
        target=str(drafted.target),
        draft=drafted.text,
        diff=_diff(in_effect(drafted.kind, drafted.code, data_dir), drafted.target, drafted.text),
        state="open",
        received_at=now,
        due_on=due_date(now),
    )
    session.add(proposal)
    session.flush()
    audit.record(
        session,
        at=now,
        actor=record.channel,
        action="proposal.created",
        subject=f"proposal:{proposal.id}",
        detail={
            "kind": proposal.kind,
            "code": proposal.code,
            "packet": record.id,
            "due_on": proposal.due_on.isoformat(),
        },
    )
    return proposal


@dataclass(frozen=True)
class InboxItem:
    id: int
    kind: str
    code: str
    state: str
    received_at: datetime
    due_on: date
    overdue: bool
    target: str
    diff: str
    decided_by: str | None
    reason: str | None


def inbox(gw: Gateway, *, include_decided: bool = False) -> list[InboxItem]:
    today = gw.clock.now().astimezone(VN_TZ).date()
    with gw.sessions() as session:
        query = select(RegimeProposal).order_by(RegimeProposal.due_on, RegimeProposal.id)
        if not include_decided:
            query = query.where(RegimeProposal.state == "open")
        return [
            InboxItem(
                p.id,
                p.kind,
                p.code,
                p.state,
                p.received_at,
                p.due_on,
                p.state == "open" and today > p.due_on,
                p.target,
                p.diff,
                p.decided_by,
                p.reason,
            )
            for p in session.scalars(query)
        ]


def _open(session: Session, proposal_id: int) -> RegimeProposal:
    proposal = session.get(RegimeProposal, proposal_id, with_for_update=True)
    if proposal is None:
        raise NotFound(f"proposal {proposal_id} does not exist (gateway regimes inbox lists them)")
    if proposal.state != "open":
        raise Conflict(f"proposal {proposal_id} is already {proposal.state} by {proposal.decided_by}")
    return proposal


def _check_draft(kind: str, text: str, target: Path) -> None:
    """The draft must load as the gateway would load the file, before it replaces anything."""
    try:
        doc = yaml_files.safe_load(text)
        if kind == "regime":
            check(RegimeDef.model_validate(doc))
        elif kind == "outline":
            OutlineDef.model_validate(doc)
        else:
            m.Form.model_validate({k: v for k, v in doc.items()})
    except yaml.YAMLError as exc:
        raise InputError(
            f"the draft for {target} does not load{yaml_files.yaml_problem(exc)}", location=str(target)
        ) from exc
    except (ValidationError, ValueError, ConfigurationError) as exc:
        # ConfigurationError: a rule of regimes the draft breaks (a deadline with no working day after its
        # window, a lead time into the window with the province's own lead_days kept): the draft is
        # refused as input, said, never a 500.
        raise InputError(f"the draft for {target} does not load: {exc}", location=str(target)) from exc


def _write_atomically(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def accept(gw: Gateway, proposal_id: int, *, actor: str) -> Path:
    """Write the drafted file (atomically) and record who accepted it."""
    now = gw.clock.now()
    with gw.sessions.begin() as session:
        proposal = _open(session, proposal_id)
        target = Path(proposal.target)
        _check_draft(proposal.kind, proposal.draft, target)
        current = _diff(in_effect(proposal.kind, proposal.code, gw.settings.data_dir), target, proposal.draft)
        if current != proposal.diff:
            raise Conflict(
                f"{target} changed since proposal {proposal_id} was drafted; decline it and ask for the packet "
                "again, or edit the file by hand"
            )
        proposal.state, proposal.decided_by, proposal.decided_at = "accepted", actor, now
        audit.record(
            session,
            at=now,
            actor=actor,
            action="proposal.accepted",
            subject=f"proposal:{proposal_id}",
            detail={"kind": proposal.kind, "code": proposal.code, "target": str(target)},
        )
        _write_atomically(target, proposal.draft)  # last: a failure here rolls the decision back
    # The operator's folders may have just been created: the search path and caches follow.
    resources.configure(gw.settings.data_dir, gw.settings.resources.model_dump())
    _load_regime_file.cache_clear()
    load_outline.cache_clear()
    return target


def decline(gw: Gateway, proposal_id: int, *, actor: str, reason: str) -> None:
    if not reason.strip():
        raise InputError("a decline needs a reason")
    now = gw.clock.now()
    with gw.sessions.begin() as session:
        proposal = _open(session, proposal_id)
        proposal.state, proposal.decided_by, proposal.decided_at, proposal.reason = "declined", actor, now, reason
        audit.record(
            session,
            at=now,
            actor=actor,
            action="proposal.declined",
            subject=f"proposal:{proposal_id}",
            detail={"kind": proposal.kind, "code": proposal.code, "reason": reason},
        )
