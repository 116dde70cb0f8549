"""The life of one report (regime × form × reporting unit × period) after it is sent.

- Returned (``TRA_LAI``, with the receiver's reason): surfaced on the delivery, and the receiver's
  status packet is forwarded to the provincial system when ``forward_returns_to`` names a
  destination (it goes through the outbox, so the forward itself is retried and never lost).
- Corrected: a new revision (``LanGui`` n+1) built from the latest observations; earlier revisions
  are kept, never overwritten.
- Recalled (``DA_THU_HOI``): allowed before the host agency approves (Quảng Ngãi 2025 art. 8).
- Correction requested (``YEU_CAU_DINH_CHINH``, with a reason): allowed only after approval.
- Approved (``DA_DUYET``): closes the report.
Every step is one transaction with its audit event; packets it creates are published after commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import audit
from gateway.bootstrap import Gateway
from gateway.calendar.regimes import load_regime, run_for
from gateway.clock import VN_TZ
from gateway.db.models import Delivery, Observation, Packet
from gateway.errors import GatewayError, NotFound
from gateway.ingest_runs import visible_observation
from gateway.packets import model as m
from gateway.packets.validate import read_packet
from gateway.reports import BuiltPacket, build_report
from gateway.reports.queue import queue


class LifecycleError(GatewayError):
    """The step is not allowed in the report's current state; the message says why and what to do."""


@dataclass(frozen=True)
class ReportKey:
    regime: str
    form: str
    period_key: str
    unit: str


def revisions(gw: Gateway, key: ReportKey) -> list[Packet]:
    """Every revision of a report, oldest first."""
    with gw.sessions() as session:
        return list(
            session.scalars(
                select(Packet)
                .where(
                    Packet.packet_type == m.PacketType.SO_LIEU_BAO_CAO.value,
                    Packet.regime_code == key.regime,
                    Packet.form_code == key.form,
                    Packet.period_key == key.period_key,
                    Packet.reporting_unit == key.unit,
                )
                .order_by(Packet.revision)
            )
        )


def correct(gw: Gateway, key: ReportKey, *, actor: str, reason: str) -> BuiltPacket:
    """Build and queue revision n+1 from the latest observations of the report, to the destinations
    revision n went to (the regime's, for a report never sent), each in its own format."""
    with gw.sessions.begin() as session:
        built = correct_in_session(session, gw, key, actor=actor, reason=reason)
    gw.publish(built.delivery_ids)
    return built


def correct_in_session(session: Session, gw: Gateway, key: ReportKey, *, actor: str, reason: str) -> BuiltPacket:
    """As ``correct``, inside the caller's transaction (a re-ingest corrects the reports it changed
    in the transaction that completes it); the caller publishes the wake-ups after commit."""
    regime = load_regime(key.regime)
    run_for(regime, key.period_key).check_closed(gw.clock.now().astimezone(VN_TZ).date())
    observations = list(
        session.scalars(
            select(Observation).where(
                Observation.regime_code == key.regime,
                Observation.form_code == key.form,
                Observation.period_key == key.period_key,
                Observation.reporting_unit == key.unit,
                visible_observation(),
            )
        )
    )
    if not observations:
        raise NotFound(f"no observations for report {key}")
    latest = session.scalars(
        select(Packet.id)
        .where(
            Packet.packet_type == m.PacketType.SO_LIEU_BAO_CAO.value,
            Packet.regime_code == key.regime,
            Packet.form_code == key.form,
            Packet.period_key == key.period_key,
            Packet.reporting_unit == key.unit,
        )
        .order_by(Packet.revision.desc())
        .limit(1)
    ).first()
    sent_to = (
        list(session.scalars(select(Delivery.destination).where(Delivery.packet_id == latest).order_by(Delivery.id)))
        if latest
        else []
    )
    built = build_report(
        session,
        regime,
        key.form,
        key.period_key,
        key.unit,
        observations,
        sender=gw.settings.sender,
        destinations=gw.settings.destinations,
        sealer=gw.sealer,
        clock=gw.clock,
        fmt=None,  # each destination in its own format
        actor=actor,
        route=[d for d in sent_to if d in gw.settings.destinations] or None,  # where revision n went
    )
    audit.record(
        session,
        at=gw.clock.now(),
        actor=actor,
        action="report.corrected",
        subject=f"report:{key.regime}:{key.form}:{key.period_key}:{key.unit}",
        detail={"packet": built.packet_id, "reason": reason},
    )
    return built


def _latest_status(session: Session, packet_id: str) -> set[str]:
    rows = session.scalars(select(Delivery.ack_status).where(Delivery.packet_id == packet_id))
    return {s for s in rows if s}


def _send_status(
    gw: Gateway, packet_id: str, status: m.ReportStatus, *, actor: str, reason: str | None, allowed: bool, refusal: str
) -> str:
    with gw.sessions.begin() as session:
        original = session.get(Packet, packet_id)
        if original is None:
            raise NotFound(f"packet {packet_id} does not exist")
        if not allowed and "DA_DUYET" not in _latest_status(session, packet_id):
            raise LifecycleError(refusal)
        if allowed and "DA_DUYET" in _latest_status(session, packet_id):
            raise LifecycleError(refusal)
        report = read_packet(original.payload, source=f"packet {packet_id}", profile=gw.profile)
        body = report.body
        assert isinstance(body, m.ReportFigures)
        now = gw.clock.now().astimezone(VN_TZ)
        envelope = m.Envelope(
            packet_id=uuid.uuid4(),
            packet_type=m.PacketType.TRANG_THAI_BAO_CAO,
            profile=gw.profile.id,
            created_at=now,
            sender=report.sender,
            receiver=report.receiver,
            body=m.StatusReport(
                original_packet_id=report.packet_id,
                regime_code=body.regime_code,
                period=body.period,
                reporting_unit=body.reporting_unit,
                revision=body.revision,
                status=status,
                at=now,
                handler=actor,
                reason=reason,
            ),
        )
        destinations = list(session.scalars(select(Delivery.destination).where(Delivery.packet_id == packet_id)))
        _, deliveries = queue(
            session, envelope, destinations, gw.settings.destinations, gw.sealer, now=gw.clock.now(), actor=actor
        )
        audit.record(
            session,
            at=gw.clock.now(),
            actor=actor,
            action=f"report.{status.value.lower()}",
            subject=f"packet:{packet_id}",
            detail={"status_packet": str(envelope.packet_id), "reason": reason},
        )
        ids = [d.id for d in deliveries]
    gw.publish(ids)
    return str(envelope.packet_id)


def recall(gw: Gateway, packet_id: str, *, actor: str, reason: str | None = None) -> str:
    """Send ``DA_THU_HOI`` for a report not yet approved; then correct it and send again."""
    return _send_status(
        gw,
        packet_id,
        m.ReportStatus.DA_THU_HOI,
        actor=actor,
        reason=reason,
        allowed=True,
        refusal=f"packet {packet_id} is already approved (DA_DUYET): it cannot be recalled; "
        "request a correction instead (gateway reports request-correction)",
    )


def request_correction(gw: Gateway, packet_id: str, *, actor: str, reason: str) -> str:
    """Send ``YEU_CAU_DINH_CHINH`` for an approved report: the host agency then returns it."""
    return _send_status(
        gw,
        packet_id,
        m.ReportStatus.YEU_CAU_DINH_CHINH,
        actor=actor,
        reason=reason,
        allowed=False,
        refusal=f"packet {packet_id} is not approved yet: recall it instead (gateway reports recall)",
    )
