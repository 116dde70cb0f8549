"""The outbox: a packet and its deliveries are written in the caller's transaction.

The queue message that follows is only a wake-up, published *after* commit by the caller
(``DeliveryService.publish_after_commit``); if it is lost, the sweeper finds the due delivery in SQL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from gateway import audit
from gateway.db.models import NO_DEADLINE, Delivery, DeliveryState, Packet
from gateway.packets import model as m


def content_type(fmt: str) -> str:
    return "application/xml" if fmt == "xml" else "application/json"


def store(
    session: Session,
    envelope: m.Envelope,
    payload: bytes,
    fmt: str,
    destinations: Iterable[str],
    *,
    now: datetime,
    value_count: int = 0,
    mapping_version: str | None = None,
    deadline: datetime | None = None,
    actor: str = "system",
    own_payloads: Mapping[str, tuple[bytes, str]] | None = None,
    report_key: tuple[str | None, str | None, str | None, int] | None = None,
) -> tuple[Packet, list[Delivery]]:
    """Add the packet and one pending delivery per destination to ``session`` (no commit).

    ``own_payloads`` gives, per destination, the bytes and format it gets when they differ from
    ``payload`` (another format, or the same report addressed to another receiver). ``report_key``
    (regime, form, period, revision) names the report when the body does not carry it (KPI data)."""
    own = dict(own_payloads or {})
    body = envelope.body
    period = getattr(body, "period", None)
    unit = getattr(body, "reporting_unit", None)
    regime, form, period_key, revision = report_key or (
        getattr(body, "regime_code", None),
        getattr(body, "form_code", None) or getattr(body, "outline_code", None),  # narrative: its outline
        period.key if isinstance(period, m.Period) else None,
        getattr(body, "revision", 1),
    )
    packet = Packet(
        id=str(envelope.packet_id),
        packet_type=envelope.packet_type.value,
        profile=envelope.profile,
        regime_code=regime,
        form_code=form,
        period_key=period_key,
        reporting_unit=unit.code if isinstance(unit, m.Unit) else None,
        revision=revision,
        content_type=content_type(fmt),
        payload=payload,
        payload_hash=hashlib.sha256(payload).hexdigest(),
        value_count=value_count,
        mapping_version=mapping_version,
        deadline=deadline,
        created_at=now,
    )
    session.add(packet)
    deliveries = [
        Delivery(
            packet=packet,
            destination=dest,
            state=DeliveryState.PENDING.value,
            idempotency_key=f"{packet.id}:{dest}",
            attempts=0,
            next_attempt_at=now,
            deadline=deadline,
            drain_order=deadline or NO_DEADLINE,
            created_at=now,
            updated_at=now,
            payload=own[dest][0] if dest in own else None,
            content_type=content_type(own[dest][1]) if dest in own else None,
        )
        for dest in destinations
    ]
    session.add_all(deliveries)
    session.flush()
    audit.record(
        session,
        at=now,
        actor=actor,
        action="packet.stored",
        subject=f"packet:{packet.id}",
        detail={
            "type": packet.packet_type,
            "period": packet.period_key,
            "revision": packet.revision,
            "destinations": [d.destination for d in deliveries],
            "sha256": packet.payload_hash,
            **({"own_payloads": {d: hashlib.sha256(own[d][0]).hexdigest() for d in sorted(own)}} if own else {}),
        },
    )
    return packet, deliveries
