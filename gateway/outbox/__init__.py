"""The outbox: a packet and its deliveries are written in the caller's transaction.

The queue message that follows is only a wake-up, published *after* commit by the caller
(``DeliveryService.publish_after_commit``); if it is lost, the sweeper finds the due delivery in SQL.

A report packet's figures are written beside it (``packet_figures``, ``gateway.reconciliation.figures``)
in the same transaction, so reconciliation never has to parse the stored bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

from gateway import audit
from gateway.db.models import NO_DEADLINE, Delivery, DeliveryState, Packet, PacketFigures
from gateway.packets import model as m
from gateway.reconciliation import figures as reconciled


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
    report_key: tuple[str | None, str | None, str | None, int] | None,
) -> dict[str, object]:
    """The ``packets`` row of one packet (``store`` and ``store_many`` write the same)."""
    body = envelope.body
    period = getattr(body, "period", None)
    unit = getattr(body, "reporting_unit", None)
    regime, form, period_key, revision = report_key or (
        getattr(body, "regime_code", None),
        getattr(body, "form_code", None) or getattr(body, "outline_code", None),  # narrative: its outline
        period.key if isinstance(period, m.Period) else None,
        getattr(body, "revision", 1),
    )
    return {
        "id": str(envelope.packet_id),
        "packet_type": envelope.packet_type.value,
        "profile": envelope.profile,
        "regime_code": regime,
        "form_code": form,
        "period_key": period_key,
        "reporting_unit": unit.code if isinstance(unit, m.Unit) else None,
        "revision": revision,
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
    """One packet for ``store_many``: its canonical form, its bytes (sealed) and where it goes; the
    other fields as ``store`` takes them."""

    envelope: m.Envelope
    payload: bytes
    fmt: str
    destinations: Sequence[str]
    value_count: int = 0
    mapping_version: str | None = None
    deadline: datetime | None = None
    own_payloads: Mapping[str, tuple[bytes, str]] = field(default_factory=dict)
    report_key: tuple[str | None, str | None, str | None, int] | None = None
    figures: str | None = None
    """The ``packet_figures`` text when the caller made it with the packet (the report builder
    writes its packets from rows, and its envelope carries no figure objects); else encoded from
    ``envelope``."""


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
            report_key=p.report_key,
        )
        for p in packets
    ]
    session.execute(insert(Packet), rows)
    figures = [
        {"packet_id": row["id"], "figures": text}
        for p, row in zip(packets, rows, strict=True)
        if (text := p.figures if p.figures is not None else reconciled.encode(p.envelope)) is not None
    ]
    if figures:
        session.execute(insert(PacketFigures), figures)
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
            "payload": p.own_payloads[dest][0] if dest in p.own_payloads else None,
            "content_type": content_type(p.own_payloads[dest][1]) if dest in p.own_payloads else None,
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
        own = p.own_payloads
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
                **({"own_payloads": {d: hashlib.sha256(own[d][0]).hexdigest() for d in sorted(own)}} if own else {}),
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
    own_payloads: Mapping[str, tuple[bytes, str]] | None = None,
    report_key: tuple[str | None, str | None, str | None, int] | None = None,
) -> tuple[Packet, list[Delivery]]:
    """Add the packet and one pending delivery per destination to ``session`` (no commit).

    ``own_payloads`` gives, per destination, the bytes and format it gets when they differ from
    ``payload`` (another format, or the same report addressed to another receiver). ``report_key``
    (regime, form, period, revision) names the report when the body does not carry it (KPI data)."""
    own = dict(own_payloads or {})
    packet = Packet(
        **_packet_row(
            envelope,
            payload,
            fmt,
            now=now,
            value_count=value_count,
            mapping_version=mapping_version,
            deadline=deadline,
            report_key=report_key,
        )
    )
    session.add(packet)
    figures = reconciled.encode(envelope)
    if figures is not None:
        session.add(PacketFigures(packet_id=packet.id, figures=figures))
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
