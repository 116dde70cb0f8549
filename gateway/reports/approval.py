"""Approval before sending: a regime with ``approval: {required: true}`` has its reports wait for a
leader (Đồng Tháp art. 16; Đồng Nai keeps entry and approval accounts apart).

A report of such a regime is built as usual, then held (``report_approvals``, state
``awaiting_approval``) as the canonical packet, unsigned: nothing is sealed or queued; at most one
draft per report waits (built again, it is kept or replaced in place, see ``hold``). An account with
the ``approver`` role, neither whoever prepared it nor whoever read its data in, approves it (the
packet is then sealed per destination and queued, its observations marked as sent) or rejects it
with a reason (the report goes back to the source system as a returned report: a
``TRANG_THAI_BAO_CAO`` ``TRA_LAI`` to the ``forward_returns_to`` destination). Both names and the
decision are kept and audited. A report still waiting within ``approval.warn_hours`` of its deadline
is flagged (``gateway_reports_approval_due_soon`` and the ``GatewayReportAwaitingApproval`` alert).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway import audit
from gateway.bootstrap import Gateway
from gateway.calendar.regimes import RegimeDef, load_regime
from gateway.clock import VN_TZ, as_utc
from gateway.db.models import ApiUser, AuditEvent, Observation, Packet, ReportApproval
from gateway.errors import Conflict, Forbidden, InputError, NotFound
from gateway.ingest_runs import visible_observation
from gateway.packets import model as m
from gateway.packets.validate import read_packet, write_packet
from gateway.reports import Linked, link_ids
from gateway.reports.queue import queue


class ApprovalRefused(Forbidden):
    """This account may not decide on this report (not an active approver, or it prepared the report or
    read its data in): a 403 over the API, a message on the dashboard, exit 2 from the CLI."""


@contextmanager
def _refusal_audited(gw: Gateway, approval_id: int, approver: str, decision: str) -> Iterator[None]:
    """A refused decision is kept in the audit log too (nothing silent): the decision's own
    transaction rolls back, so the refusal is recorded in a transaction of its own."""
    try:
        yield
    except ApprovalRefused as exc:
        with gw.sessions.begin() as session:
            audit.record(
                session,
                at=gw.clock.now(),
                actor=f"approver:{approver}",
                action="report.decision_refused",
                subject=f"approval:{approval_id}",
                detail={"decision": decision, "why": str(exc)},
            )
        raise


def _subject(held: ReportApproval) -> str:
    return f"report:{held.regime_code}:{held.form_code}:{held.period_key}:{held.reporting_unit}"


def open_draft(session: Session, regime: str, form: str, period_key: str, unit: str) -> ReportApproval | None:
    """The report's draft still awaiting approval, locked for the caller's transaction (at most one)."""
    return session.scalars(
        select(ReportApproval)
        .where(
            ReportApproval.regime_code == regime,
            ReportApproval.form_code == form,
            ReportApproval.period_key == period_key,
            ReportApproval.reporting_unit == unit,
            ReportApproval.state == "awaiting_approval",
        )
        .order_by(ReportApproval.id)
        .with_for_update()
    ).first()


def hold(
    session: Session,
    envelope: m.Envelope,
    regime: RegimeDef,
    observations: Sequence[Linked],
    *,
    value_count: int,
    deadline: datetime,
    actor: str,
    now: datetime,
) -> ReportApproval:
    """Keep the prepared report, unsigned and unqueued, until an approver decides (caller's transaction).

    A report has at most one draft awaiting approval: its observations are held by it (they are marked
    sent only when it is approved), so building the report again (``reports correct``, a scheduler or
    a re-ingest) must not make a second draft beside it. With nothing new, the draft stays as it is;
    with newer observations, the draft is replaced in place (same approval id, a new ``MaGoiTin``), so
    the approver decides on the latest figures and an approval of the old ``MaGoiTin`` is refused."""
    body = envelope.body
    assert isinstance(body, m.ReportFigures)
    ids = [o.id for o in observations]
    existing = open_draft(session, regime.code, body.form_code, body.period.key, body.reporting_unit.code)
    if existing is not None and set(ids) <= set(existing.observation_ids):
        return existing  # the same observations: the draft already holds them
    held = existing or ReportApproval(
        regime_code=regime.code,
        form_code=body.form_code,
        period_key=body.period.key,
        reporting_unit=body.reporting_unit.code,
        state="awaiting_approval",
    )
    replaced = existing.packet_id if existing is not None else None
    held.packet_id = str(envelope.packet_id)
    held.value_count = value_count
    held.draft = write_packet(envelope, "json").decode("utf-8")
    held.observation_ids = sorted(set(ids) | set(existing.observation_ids if existing is not None else []))
    held.mapping_version = observations[0].mapping_version if observations else None
    held.prepared_by, held.prepared_at = actor[:200], now
    held.deadline, held.warn_hours = deadline, regime.approval.warn_hours
    if existing is None:
        session.add(held)
    session.flush()
    audit.record(
        session,
        at=now,
        actor=actor,
        action="report.draft_replaced" if replaced else "report.awaiting_approval",
        subject=_subject(held),
        detail={"approval": held.id, "packet": held.packet_id, "values": value_count}
        | ({"replaced": replaced} if replaced else {}),
    )
    return held


@dataclass(frozen=True)
class Waiting:
    id: int
    packet_id: str
    regime: str
    form: str
    period: str
    unit: str
    values: int
    state: str
    prepared_by: str
    prepared_at: datetime
    deadline: datetime
    due_soon: bool
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None


def _waiting(a: ReportApproval, now: datetime) -> Waiting:
    return Waiting(
        a.id,
        a.packet_id,
        a.regime_code,
        a.form_code,
        a.period_key,
        a.reporting_unit,
        a.value_count,
        a.state,
        a.prepared_by,
        as_utc(a.prepared_at),
        as_utc(a.deadline),
        a.state == "awaiting_approval" and as_utc(a.deadline) - timedelta(hours=a.warn_hours) <= now,
        a.decided_by,
        as_utc(a.decided_at) if a.decided_at else None,
        a.reason,
    )


def listing(gw: Gateway, *, include_decided: bool = False) -> list[Waiting]:
    """Reports awaiting approval, earliest deadline first; ``due_soon`` within ``warn_hours`` of it."""
    now = gw.clock.now()
    with gw.sessions() as session:
        query = select(ReportApproval).order_by(ReportApproval.deadline, ReportApproval.id)
        if not include_decided:
            query = query.where(ReportApproval.state == "awaiting_approval")
        return [_waiting(a, now) for a in session.scalars(query)]


RECONCILED = ("match", "changed", "not_in_report", "not_in_source")
"""How a figure of a held report compares with what the source says now: the same value; another
value (the source was read again after the report was prepared); a value the source has that the
report lacks; a figure whose source value is gone."""


@dataclass(frozen=True)
class FigureLine:
    """One figure of a held report beside the source's current value for the same thing."""

    indicator: str
    column: str | None
    disaggregation: str
    unit: str | None
    reported: str | None
    source: str | None
    source_ref: str | None
    classification: str


@dataclass(frozen=True)
class Detail:
    waiting: Waiting
    lines: list[FigureLine]

    @property
    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(RECONCILED, 0)
        for line in self.lines:
            counts[line.classification] += 1
        return counts


def _disaggregation(pairs: list[tuple[str, str]]) -> str:
    return ", ".join(f"{d}={v}" for d, v in pairs)


def detail(gw: Gateway, approval_id: int) -> Detail:
    """The held report's figures, each reconciled against the source: the latest visible observation
    of the same indicator, column and disaggregation, with its place in the source (file, sheet, row).
    What an approver signs off is what the source says, or the difference is on the page."""
    with gw.sessions() as session:
        held = session.get(ReportApproval, approval_id)
        if held is None:
            raise NotFound(f"no report awaiting approval with id {approval_id} (gateway reports approvals)")
        draft = read_packet(held.draft.encode("utf-8"), source=f"approval {approval_id}", profile=gw.profile)
        body = draft.body
        assert isinstance(body, m.ReportFigures)
        current = session.scalars(
            select(Observation)
            .where(
                Observation.regime_code == held.regime_code,
                Observation.form_code == held.form_code,
                Observation.period_key == held.period_key,
                Observation.reporting_unit == held.reporting_unit,
                visible_observation(),
            )
            .order_by(Observation.id)
        )
        source: dict[tuple[str, str, str], Observation] = {}
        for obs in current:  # the latest reading of each value wins, as when the report is built
            pairs = sorted((str(d), str(v)) for d, v in obs.disaggregation)
            source[(obs.indicator_code, obs.column_code or "", _disaggregation(pairs))] = obs
        waiting = _waiting(held, gw.clock.now())
    lines: list[FigureLine] = []
    seen: set[tuple[str, str, str]] = set()
    for figure in body.figures:
        pairs = sorted((d.dimension, d.value_code) for d in figure.disaggregation)
        key = (figure.indicator_code, figure.column_code or "", _disaggregation(pairs))
        seen.add(key)
        found = source.get(key)
        lines.append(
            FigureLine(
                figure.indicator_code,
                figure.column_code,
                key[2],
                figure.unit,
                figure.value,
                found.value if found else None,
                found.source_ref if found else None,
                "not_in_source" if found is None else "match" if _same(found.value, figure.value) else "changed",
            )
        )
    for key, obs in sorted(source.items()):
        if key not in seen:
            lines.append(
                FigureLine(key[0], key[1] or None, key[2], obs.unit, None, obs.value, obs.source_ref, "not_in_report")
            )
    return Detail(waiting, lines)


def _same(left: str, right: str) -> bool:
    """Equal as numbers when both are (``1200.50`` is ``1200.5``), else as text."""
    try:
        return Decimal(left) == Decimal(right)
    except InvalidOperation:
        return left.strip() == right.strip()


def _account(name: str) -> str:
    """The account part of an actor (``user:lan``, ``operator:lan``, ``lan``)."""
    return name.rsplit(":", 1)[-1].strip().casefold()


def _ingested_by(session: Session, held: ReportApproval) -> set[str]:
    """Accounts that read the held report's observations in (the actors of their ingest runs)."""
    runs = set(
        session.scalars(select(Observation.ingest_run_id).where(Observation.id.in_(held.observation_ids)).distinct())
    )
    if not runs:
        return set()
    actors = session.scalars(
        select(AuditEvent.actor).where(
            AuditEvent.action == "ingest.completed", AuditEvent.subject.in_([f"ingest:{r}" for r in sorted(runs)])
        )
    )
    return {_account(a) for a in actors}


def _decide(session: Session, approval_id: int, approver: str, expected_packet: str | None = None) -> ReportApproval:
    """The held report, locked, once the approver is shown to be allowed to decide on it: an active
    account with the approver role that neither prepared the report nor read its data in (the
    separation of entry and approval, Đồng Nai). Enforced here, in the use case, so the CLI, the API
    and the dashboard cannot differ. ``expected_packet`` is the ``MaGoiTin`` the approver looked at:
    if the draft was replaced since, the decision is refused rather than applied to figures unseen."""
    held = session.get(ReportApproval, approval_id, with_for_update=True)
    if held is None:
        raise NotFound(f"no report awaiting approval with id {approval_id} (gateway reports approvals)")
    if held.state != "awaiting_approval":
        raise Conflict(f"report {approval_id} is already {held.state} by {held.decided_by}")
    if expected_packet is not None and expected_packet != held.packet_id:
        raise Conflict(
            f"report {approval_id} was prepared again since you looked at it (now packet {held.packet_id}); "
            "look at its figures again before deciding"
        )
    account = session.get(ApiUser, approver)
    if account is None or account.disabled_at is not None or account.role != "approver":
        raise ApprovalRefused(f"{approver!r} is not an active account with the approver role")
    if _account(held.prepared_by) == approver.casefold():
        raise ApprovalRefused(f"{approver} prepared report {approval_id}; another account must approve it")
    if approver.casefold() in _ingested_by(session, held):
        raise ApprovalRefused(f"{approver} read in the data of report {approval_id}; another account must approve it")
    return held


def approve(gw: Gateway, approval_id: int, *, approver: str, expected_packet: str | None = None) -> str:
    """Seal the held report per destination and queue it; returns its MaGoiTin."""
    now = gw.clock.now()
    with _refusal_audited(gw, approval_id, approver, "approve"), gw.sessions.begin() as session:
        held = _decide(session, approval_id, approver, expected_packet)
        draft = read_packet(held.draft.encode("utf-8"), source=f"approval {approval_id}", profile=gw.profile)
        body = draft.body
        assert isinstance(body, m.ReportFigures)
        latest = session.scalar(
            select(func.max(Packet.revision)).where(
                Packet.packet_type == m.PacketType.SO_LIEU_BAO_CAO.value,
                Packet.regime_code == held.regime_code,
                Packet.form_code == held.form_code,
                Packet.period_key == held.period_key,
                Packet.reporting_unit == held.reporting_unit,
            )
        )
        local = now.astimezone(VN_TZ)
        envelope = draft.model_copy(
            update={
                "created_at": local,
                "body": body.model_copy(update={"revision": int(latest or 0) + 1, "sent_at": local}),
            }
        )
        regime = load_regime(held.regime_code)
        packet, deliveries = queue(
            session,
            envelope,
            regime.destinations,
            gw.settings.destinations,
            gw.sealer,
            now=now,
            value_count=held.value_count,
            mapping_version=held.mapping_version,
            deadline=as_utc(held.deadline),
            actor=f"approver:{approver}",
            event="report.approved",
            subject=_subject(held),
            detail={"approval": approval_id, "prepared_by": held.prepared_by},
        )
        link_ids(session, held.observation_ids, packet.id)  # the held observations are sent now
        held.state, held.decided_by, held.decided_at = "approved", approver, now
        ids = [d.id for d in deliveries]
    gw.publish(ids)
    return packet.id


def reject(
    gw: Gateway, approval_id: int, *, approver: str, reason: str, expected_packet: str | None = None
) -> str | None:
    """Reject with a reason; the report goes back to the source system (``forward_returns_to``) as a
    returned report. Returns the MaGoiTin of that status packet, None when no source is configured."""
    if not reason.strip():
        raise InputError("a rejection needs a reason")
    now = gw.clock.now()
    ids: list[int] = []
    returned: str | None = None
    with _refusal_audited(gw, approval_id, approver, "reject"), gw.sessions.begin() as session:
        held = _decide(session, approval_id, approver, expected_packet)
        held.state, held.decided_by, held.decided_at, held.reason = "rejected", approver, now, reason
        source = gw.settings.forward_returns_to
        if source:
            draft = read_packet(held.draft.encode("utf-8"), source=f"approval {approval_id}", profile=gw.profile)
            body = draft.body
            assert isinstance(body, m.ReportFigures)
            local = now.astimezone(VN_TZ)
            status = m.Envelope(
                packet_id=uuid.uuid4(),
                packet_type=m.PacketType.TRANG_THAI_BAO_CAO,
                profile=gw.profile.id,
                created_at=local,
                sender=draft.sender,
                receiver=draft.sender,  # addressed to the source by queue
                body=m.StatusReport(
                    original_packet_id=draft.packet_id,
                    regime_code=body.regime_code,
                    period=body.period,
                    reporting_unit=body.reporting_unit,
                    revision=body.revision,
                    status=m.ReportStatus.TRA_LAI,
                    at=local,
                    handler=approver,
                    reason=reason,
                ),
            )
            _, deliveries = queue(
                session, status, [source], gw.settings.destinations, gw.sealer, now=now, actor=f"approver:{approver}"
            )
            ids, returned = [d.id for d in deliveries], str(status.packet_id)
        audit.record(
            session,
            at=now,
            actor=f"approver:{approver}",
            action="report.rejected",
            subject=_subject(held),
            detail={"approval": approval_id, "reason": reason, "prepared_by": held.prepared_by, "returned": returned},
        )
    gw.publish(ids)
    return returned
