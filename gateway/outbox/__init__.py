"""The outbox: a packet and its deliveries are written in the caller's transaction.

The queue message that follows is only a wake-up, published *after* commit by the caller
(``DeliveryService.publish_after_commit``); if it is lost, the sweeper finds the due delivery in SQL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

from gateway import audit
from gateway.db.models import NO_DEADLINE, Delivery, DeliveryState, Packet
from gateway.packets import model as m


def content_type(fmt: str) -> str:
    return "application/xml" if fmt == "xml" else "application/json"


def _packet_row(
    envelope: m.Envelope,
    payload: bytes,
    fmt: str,
    *,
    now: datetime,
    value_count: int,
    mapping_version: str | None,
    deadline: datetime | None,
) -> dict[str, object]:
    body = envelope.body
    period = getattr(body, "period", None)
    unit = getattr(body, "reporting_unit", None)
    return {
        "id": str(envelope.packet_id),
        "packet_type": envelope.packet_type.value,
        "profile": envelope.profile,
        "regime_code": getattr(body, "regime_code", None),
        "form_code": getattr(body, "form_code", None),
        "period_key": period.key if isinstance(period, m.Period) else None,
        "reporting_unit": unit.code if isinstance(unit, m.Unit) else None,
        "revision": getattr(body, "revision", 1),
        "content_type": content_type(fmt),
        "payload": payload,
        "payload_hash": hashlib.sha256(payload).hexdigest(),
        "value_count": value_count,
        "mapping_version": mapping_version,
        "deadline": deadline,
        "created_at": now,
    }


@dataclass(frozen=True)
class Outgoing:
    """One packet for ``store_many``: its canonical form, its bytes (sealed) and where it goes."""

    envelope: m.Envelope
    payload: bytes
    fmt: str
    destinations: Sequence[str]
    value_count: int = 0
    mapping_version: str | None = None
    deadline: datetime | None = None


@dataclass(frozen=True)
class Stored:
    packet_id: str
    delivery_ids: list[int]


def store_many(session: Session, packets: Sequence[Outgoing], *, now: datetime, actor: str = "system") -> list[Stored]:
    """Add many packets and their pending deliveries to ``session`` (no commit), as ``store`` does
    for one, with one multi-row INSERT for the packets and one for the deliveries (issue 19: one
    transaction and a flush of ORM objects per packet made storing the slow half of store + deliver).
    The audit chain gets one ``packet.stored`` event per packet, in order, as with ``store``."""
    if not packets:
        return []
    rows = [
        _packet_row(
            p.envelope,
            p.payload,
            p.fmt,
            now=now,
            value_count=p.value_count,
            mapping_version=p.mapping_version,
            deadline=p.deadline,
        )
        for p in packets
    ]
    session.execute(insert(Packet), rows)
    wanted = [
        {
            "packet_id": row["id"],
            "destination": dest,
            "state": DeliveryState.PENDING.value,
            "idempotency_key": f"{row['id']}:{dest}",
            "attempts": 0,
            "next_attempt_at": now,
            "deadline": p.deadline,
            "drain_order": p.deadline or NO_DEADLINE,
            "created_at": now,
            "updated_at": now,
        }
        for p, row in zip(packets, rows, strict=True)
        for dest in p.destinations
    ]
    ids: dict[str, list[int]] = {str(row["id"]): [] for row in rows}
    if wanted:
        returned = session.execute(
            insert(Delivery).returning(Delivery.id, Delivery.packet_id, sort_by_parameter_order=True), wanted
        )
        for delivery_id, packet_id in returned:
            ids[packet_id].append(delivery_id)
    for p, row in zip(packets, rows, strict=True):
        audit.record(
            session,
            at=now,
            actor=actor,
            action="packet.stored",
            subject=f"packet:{row['id']}",
            detail={
                "type": row["packet_type"],
                "period": row["period_key"],
                "revision": row["revision"],
                "destinations": list(p.destinations),
                "sha256": row["payload_hash"],
            },
        )
    return [Stored(str(row["id"]), ids[str(row["id"])]) for row in rows]


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
) -> tuple[Packet, list[Delivery]]:
    """Add the packet and one pending delivery per destination to ``session`` (no commit)."""
    packet = Packet(
        **_packet_row(
            envelope,
            payload,
            fmt,
            now=now,
            value_count=value_count,
            mapping_version=mapping_version,
            deadline=deadline,
        )
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
        },
    )
    return packet, deliveries
