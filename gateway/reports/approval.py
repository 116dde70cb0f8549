"""Approval before sending: a regime with ``approval: {required: true}`` has its reports wait for a
leader (Đồng Tháp art. 16; Đồng Nai keeps entry and approval accounts apart).

A report of such a regime is built as usual, then held (``report_approvals``, state
``awaiting_approval``) as the canonical packet, unsigned: nothing is sealed or queued. An account
with the ``approver`` role, other than whoever prepared it, approves it (the packet is then sealed
per destination and queued, its observations marked as sent) or rejects it with a reason (the report
goes back to the source system as a returned report: a ``TRANG_THAI_BAO_CAO`` ``TRA_LAI`` to the
``forward_returns_to`` destination). Both names and the decision are kept and audited. A report still
waiting within ``approval.warn_hours`` of its deadline is flagged (``gateway_reports_approval_due_soon``
and the ``GatewayReportAwaitingApproval`` alert).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway import audit, outbox
from gateway.bootstrap import Gateway
from gateway.calendar.regimes import RegimeDef, load_regime
from gateway.clock import VN_TZ, as_utc
from gateway.db.models import ApiUser, Observation, Packet, ReportApproval
from gateway.errors import Conflict, InputError, NotFound
from gateway.packets import model as m
from gateway.packets.validate import read_packet, write_packet
from gateway.reports.routing import seal_for


class ApprovalRefused(InputError):
    """This account may not decide on this report (wrong role, or it prepared the report)."""


def hold(
    session: Session,
    envelope: m.Envelope,
    regime: RegimeDef,
    observations: list[Observation],
    *,
    value_count: int,
    deadline: datetime,
    actor: str,
    now: datetime,
) -> ReportApproval:
    """Keep the prepared report, unsigned and unqueued, until an approver decides (caller's transaction)."""
    body = envelope.body
    assert isinstance(body, m.ReportFigures)
    held = ReportApproval(
        packet_id=str(envelope.packet_id),
        regime_code=regime.code,
        form_code=body.form_code,
        period_key=body.period.key,
        reporting_unit=body.reporting_unit.code,
        value_count=value_count,
        draft=write_packet(envelope, "json").decode("utf-8"),
        observation_ids=[o.id for o in observations],
        mapping_version=observations[0].mapping_version if observations else None,
        state="awaiting_approval",
        prepared_by=actor[:200],
        prepared_at=now,
        deadline=deadline,
        warn_hours=regime.approval.warn_hours,
    )
    session.add(held)
    session.flush()
    audit.record(
        session,
        at=now,
        actor=actor,
        action="report.awaiting_approval",
        subject=f"report:{regime.code}:{held.form_code}:{held.period_key}:{held.reporting_unit}",
        detail={"approval": held.id, "packet": held.packet_id, "values": value_count},
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
    deadline: datetime
    due_soon: bool
    decided_by: str | None
    reason: str | None


def listing(gw: Gateway, *, include_decided: bool = False) -> list[Waiting]:
    now = gw.clock.now()
    with gw.sessions() as session:
        query = select(ReportApproval).order_by(ReportApproval.deadline, ReportApproval.id)
        if not include_decided:
            query = query.where(ReportApproval.state == "awaiting_approval")
        return [
            Waiting(
                a.id,
                a.packet_id,
                a.regime_code,
                a.form_code,
                a.period_key,
                a.reporting_unit,
                a.value_count,
                a.state,
                a.prepared_by,
                as_utc(a.deadline),
                a.state == "awaiting_approval" and as_utc(a.deadline) - timedelta(hours=a.warn_hours) <= now,
                a.decided_by,
                a.reason,
            )
            for a in session.scalars(query)
        ]


def _account(name: str) -> str:
    """The account part of an actor (``user:lan``, ``operator:lan``, ``lan``)."""
    return name.rsplit(":", 1)[-1].strip().casefold()


def _decide(session: Session, approval_id: int, approver: str) -> ReportApproval:
    held = session.get(ReportApproval, approval_id, with_for_update=True)
    if held is None:
        raise NotFound(f"no report awaiting approval with id {approval_id} (gateway reports approvals)")
    if held.state != "awaiting_approval":
        raise Conflict(f"report {approval_id} is already {held.state} by {held.decided_by}")
    account = session.get(ApiUser, approver)
    if account is None or account.disabled_at is not None or account.role != "approver":
        raise ApprovalRefused(f"{approver!r} is not an active account with the approver role")
    if _account(held.prepared_by) == approver.casefold():
        raise ApprovalRefused(f"{approver} prepared report {approval_id}; another account must approve it")
    return held


def approve(gw: Gateway, approval_id: int, *, approver: str) -> str:
    """Seal the held report per destination and queue it; returns its MaGoiTin."""
    now = gw.clock.now()
    with gw.sessions.begin() as session:
        held = _decide(session, approval_id, approver)
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
        sealed = seal_for(envelope, regime.destinations, gw.settings.destinations, gw.sealer)
        packet, deliveries = outbox.store(
            session,
            sealed.envelope,
            sealed.payload,
            sealed.fmt,
            sealed.destinations,
            own_payloads=sealed.own,
            now=now,
            value_count=held.value_count,
            mapping_version=held.mapping_version,
            deadline=as_utc(held.deadline),
            actor=f"approver:{approver}",
        )
        for obs in session.scalars(select(Observation).where(Observation.id.in_(held.observation_ids))):
            obs.packet_id = packet.id
        held.state, held.decided_by, held.decided_at = "approved", approver, now
        audit.record(
            session,
            at=now,
            actor=f"approver:{approver}",
            action="report.approved",
            subject=f"report:{held.regime_code}:{held.form_code}:{held.period_key}:{held.reporting_unit}",
            detail={"approval": approval_id, "packet": packet.id, "prepared_by": held.prepared_by},
        )
        ids = [d.id for d in deliveries]
    gw.publish(ids)
    return packet.id


def reject(gw: Gateway, approval_id: int, *, approver: str, reason: str) -> str | None:
    """Reject with a reason; the report goes back to the source system (``forward_returns_to``) as a
    returned report. Returns the MaGoiTin of that status packet, None when no source is configured."""
    if not reason.strip():
        raise InputError("a rejection needs a reason")
    now = gw.clock.now()
    ids: list[int] = []
    returned: str | None = None
    with gw.sessions.begin() as session:
        held = _decide(session, approval_id, approver)
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
                receiver=draft.sender,  # addressed to the source by seal_for
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
            sealed = seal_for(status, [source], gw.settings.destinations, gw.sealer)
            _, deliveries = outbox.store(
                session,
                sealed.envelope,
                sealed.payload,
                sealed.fmt,
                sealed.destinations,
                own_payloads=sealed.own,
                now=now,
                actor=f"approver:{approver}",
            )
            ids, returned = [d.id for d in deliveries], str(status.packet_id)
        audit.record(
            session,
            at=now,
            actor=f"approver:{approver}",
            action="report.rejected",
            subject=f"report:{held.regime_code}:{held.form_code}:{held.period_key}:{held.reporting_unit}",
            detail={"approval": approval_id, "reason": reason, "prepared_by": held.prepared_by, "returned": returned},
        )
    gw.publish(ids)
    return returned
