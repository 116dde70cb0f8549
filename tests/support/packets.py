"""Build and store report packets for tests, the way the reports use case does."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from gateway import calendar, outbox
from gateway.bootstrap import Gateway
from gateway.clock import VN_TZ
from gateway.packets import model as m
from gateway.packets.validate import write_packet


def report_packet(month: int = 10, values: int = 5, form: str = "BM01-KT", year: int = 2026) -> m.Envelope:
    now = datetime.now(VN_TZ)
    return m.Envelope(
        packet_id=uuid.uuid4(),
        packet_type=m.PacketType.SO_LIEU_BAO_CAO,
        profile="qcvn125-gw/0",
        created_at=now,
        sender=m.Unit(code="H15", name="Ủy ban nhân dân tỉnh Lào Cai"),
        receiver=m.Unit(code="G01", name="Hệ thống thông tin báo cáo Chính phủ"),
        body=m.ReportFigures(
            regime_code="KTXH-THANG",
            form_code=form,
            period=calendar.period("THANG", month, year),
            reporting_unit=m.Unit(code="H15", name="Ủy ban nhân dân tỉnh Lào Cai"),
            revision=1,
            sent_at=now,
            figures=[
                m.Figure(indicator_code=f"05{i:02d}", value=f"{i * 1000}.5", unit="tỷ đồng") for i in range(values)
            ],
        ),
    )


def store_packets(
    gw: Gateway, count: int, *, destinations: list[str] | None = None, fmt: str = "json", deadline_spread: bool = False
) -> tuple[list[str], list[int]]:
    """Store ``count`` packets with deliveries (one transaction each); returns packet and delivery ids."""
    packet_ids: list[str] = []
    delivery_ids: list[int] = []
    batch = uuid.uuid4().hex[:6]  # distinct reports on every call
    for i in range(count):
        envelope = report_packet(month=(i % 12) + 1, form=f"BM-{batch}-{i:05d}", year=2026 + i // 12)
        targets = destinations or ["national"]
        payload = gw.sealer.seal(envelope, fmt, targets)  # type: ignore[arg-type]
        deadline = datetime(2026, 12, 1, tzinfo=UTC) + timedelta(hours=(count - i) if deadline_spread else 0)
        with gw.sessions.begin() as session:
            packet, deliveries = outbox.store(
                session,
                envelope,
                payload,
                fmt,
                targets,
                now=gw.clock.now(),
                value_count=5,
                deadline=deadline,
            )
            packet_ids.append(packet.id)
            delivery_ids.extend(d.id for d in deliveries)
    return packet_ids, delivery_ids


def status_packet(
    original_id: str,
    status: m.ReportStatus,
    *,
    reason: str | None = None,
    period: m.Period | None = None,
    unit: m.Unit | None = None,
    revision: int = 1,
    packet_id: uuid.UUID | None = None,
) -> bytes:
    """A receiver's ``TRANG_THAI_BAO_CAO`` about packet ``original_id``, as JSON bytes (``packet_id``:
    its own MaGoiTin, new by default)."""
    now = datetime.now(VN_TZ)
    province = unit or m.Unit(code="H15", name="Lào Cai")
    return write_packet(
        m.Envelope(
            packet_id=packet_id or uuid.uuid4(),
            packet_type=m.PacketType.TRANG_THAI_BAO_CAO,
            profile="qcvn125-gw/0",
            created_at=now,
            sender=m.Unit(code="G01", name="VPCP"),
            receiver=province,
            body=m.StatusReport(
                original_packet_id=uuid.UUID(original_id),
                regime_code="KTXH-THANG",
                period=period or calendar.period("THANG", 1, 2026),
                reporting_unit=province,
                revision=revision,
                status=status,
                at=now,
                reason=reason,
            ),
        ),
        "json",
    )
