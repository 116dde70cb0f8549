"""``outbox.store_many`` (issue 19): many packets and their deliveries in one transaction, with the
same rows, idempotency keys and audit events as ``outbox.store`` writes for each, on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from gateway import audit, outbox
from gateway.db.models import AuditEvent, Delivery, Packet
from gateway.packets.validate import write_packet
from tests.conftest import GatewayFactory
from tests.support.packets import report_packet

COLUMNS = ("packet_type", "profile", "regime_code", "form_code", "period_key", "reporting_unit", "revision")


def test_store_many_writes_what_store_writes_for_each_packet(
    gateway_factory: GatewayFactory, database_url: str
) -> None:
    gw = gateway_factory(database_url=database_url)
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    due = now + timedelta(days=3)
    envelopes = [report_packet(month=m, values=3) for m in (7, 8, 9, 10)]
    batch = [
        outbox.Outgoing(e, write_packet(e, "json"), "json", ["national", "ministry"], value_count=3, deadline=due)
        for e in envelopes[:3]
    ]
    with gw.sessions.begin() as session:
        stored = outbox.store_many(session, batch, now=now, actor="test")
        single, _ = outbox.store(
            session,
            envelopes[3],
            write_packet(envelopes[3], "json"),
            "json",
            ["national", "ministry"],
            now=now,
            value_count=3,
            deadline=due,
            actor="test",
        )
    assert [s.packet_id for s in stored] == [str(e.packet_id) for e in envelopes[:3]]
    with gw.sessions() as session:
        packets = {p.id: p for p in session.scalars(select(Packet))}
        deliveries = list(session.scalars(select(Delivery).order_by(Delivery.id)))
        events = list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
        assert audit.verify(session) == []
    assert len(packets) == 4 and len(deliveries) == 8
    reference = packets[single.id]
    for s, envelope in zip(stored, envelopes, strict=False):
        row = packets[s.packet_id]
        assert [getattr(row, c) for c in COLUMNS] == [getattr(reference, c) for c in COLUMNS[:4]] + [
            f"2026-THANG-{envelope.body.period.number}",  # type: ignore[union-attr]
            reference.reporting_unit,
            1,
        ]
        given = next(b.payload for b in batch if b.envelope is envelope)
        assert row.payload == given  # the sealed bytes, as given
        mine = [d for d in deliveries if d.packet_id == s.packet_id]
        assert sorted(d.id for d in mine) == sorted(s.delivery_ids)
        assert {d.idempotency_key for d in mine} == {f"{s.packet_id}:national", f"{s.packet_id}:ministry"}
        assert all(d.state == "pending" and d.deadline is not None and d.attempts == 0 for d in mine)
    stored_events = [e for e in events if e.action == "packet.stored"]
    assert [e.subject for e in stored_events] == [f"packet:{s.packet_id}" for s in stored] + [f"packet:{single.id}"]


def test_store_many_of_nothing_stores_nothing(gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory()
    with gw.sessions.begin() as session:
        assert outbox.store_many(session, [], now=datetime.now(UTC)) == []
        assert session.scalar(select(Packet.id)) is None
