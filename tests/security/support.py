"""What the security probes share: a signed gateway with two receivers, and status packets built the
way a receiver (or an attacker holding some key) would build them."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from gateway import calendar
from gateway.bootstrap import Gateway
from gateway.clock import VN_TZ
from gateway.db.models import Delivery
from gateway.packets import model as m
from gateway.packets.validate import write_packet
from gateway.settings import DestinationSettings, KeySettings, SigningSettings, TrustSettings, UnitSettings
from tests.conftest import GatewayFactory, national_destination
from tests.support.api import client_token
from tests.support.packets import store_packets
from tests.support.signing import signer

UNITS = {"G01": "Hệ thống thông tin báo cáo Chính phủ", "B05": "Bộ Kế hoạch và Đầu tư", "H15": "UBND tỉnh Lào Cai"}
KEY_OF_UNIT = {"G01": "national", "B05": "ministry", "H15": "signer"}


def ministry_destination() -> DestinationSettings:
    return national_destination("http://127.0.0.1:9/ministry").model_copy(
        update={"receiver": UnitSettings(code="B05", name=UNITS["B05"])}
    )


def signed_gateway(factory: GatewayFactory, database_url: str, pki: Path, **extra: object) -> Gateway:
    """A gateway that signs with the province key and trusts the test PKI, sending to G01 and B05."""
    return factory(
        database_url=database_url,
        destinations={
            "national": national_destination("http://127.0.0.1:9/national"),
            "ministry": ministry_destination(),
        },
        signing=SigningSettings(keys=[KeySettings(path=pki / "signer.p12", passphrase_file=pki / "passphrase.txt")]),
        trust=TrustSettings(dir=pki / "trust"),
        **extra,
    )


def acknowledged_packet(gw: Gateway) -> tuple[str, dict[str, int]]:
    """One report delivered to both receivers and acknowledged by both; returns its id and delivery ids."""
    (packet_id,), _ = store_packets(gw, 1, destinations=["national", "ministry"])
    with gw.sessions.begin() as s:
        deliveries = s.scalars(select(Delivery).where(Delivery.packet_id == packet_id)).all()
        for d in deliveries:
            d.state, d.ack_status = "acknowledged", "DA_TIEP_NHAN"
        return packet_id, {d.destination: d.id for d in deliveries}


def kpi_packet(gw: Gateway) -> tuple[str, dict[str, int]]:
    """KPI data of January 2026 (DU_LIEU_CHI_SO, its period in each value) delivered to both receivers
    and acknowledged, stored as the scheduler stores it (regime KTXH-THANG, revision 1)."""
    from gateway import outbox

    now = datetime.now(VN_TZ)
    province = m.Unit(code="H15", name=UNITS["H15"])
    envelope = m.Envelope(
        packet_id=uuid.uuid4(),
        packet_type=m.PacketType.DU_LIEU_CHI_SO,
        profile="qcvn125-gw/0",
        created_at=now,
        sender=province,
        receiver=m.Unit(code="G01", name=UNITS["G01"]),
        body=m.KpiData(
            reporting_unit=province,
            kpi_values=[
                m.KpiValue(
                    kpi_code="CS01",
                    period=calendar.period("THANG", 1, 2026),
                    value="12.5",
                    figure_status=m.FigureStatus.SO_BO,
                    updated_at=now,
                )
            ],
        ),
    )
    targets = ["national", "ministry"]
    payload = gw.sealer.seal(envelope, "json", targets)
    with gw.sessions.begin() as session:
        packet, deliveries = outbox.store(
            session,
            envelope,
            payload,
            "json",
            targets,
            now=gw.clock.now(),
            report_key=("KTXH-THANG", "KPI", "2026-THANG-1", 1),
        )
        for d in deliveries:
            d.state, d.ack_status = "acknowledged", "DA_TIEP_NHAN"
        return packet.id, {d.destination: d.id for d in deliveries}


def states(gw: Gateway, ids: dict[str, int]) -> dict[str, str]:
    with gw.sessions() as s:
        return {name: s.get(Delivery, i).state for name, i in ids.items()}  # type: ignore[union-attr]


def status_bytes(
    original: str,
    status: m.ReportStatus,
    *,
    sender: str = "G01",
    receiver: str = "H15",
    reason: str | None = None,
    at: datetime | None = None,
    revision: int = 1,
    month: int = 1,
) -> bytes:
    """A receiver's status about ``original``; by default it names the report ``acknowledged_packet``
    stores (KTXH-THANG, January 2026, H15, revision 1), as a status must (``check_answers``)."""
    now = datetime.now(VN_TZ)
    province = m.Unit(code="H15", name=UNITS["H15"])
    if reason is None and status in (m.ReportStatus.TRA_LAI, m.ReportStatus.TU_CHOI):
        reason = "Số liệu chưa đầy đủ"
    return write_packet(
        m.Envelope(
            packet_id=uuid.uuid4(),
            packet_type=m.PacketType.TRANG_THAI_BAO_CAO,
            profile="qcvn125-gw/0",
            created_at=now,
            sender=m.Unit(code=sender, name=UNITS.get(sender, "Đơn vị khác")),
            receiver=m.Unit(code=receiver, name=UNITS.get(receiver, "Tỉnh khác")),
            body=m.StatusReport(
                original_packet_id=uuid.UUID(original),
                regime_code="KTXH-THANG",
                period=calendar.period("THANG", month, 2026),
                reporting_unit=province,
                revision=revision,
                status=status,
                at=at or now,
                reason=reason,
            ),
        ),
        "json",
    )


def signed_status(pki: Path, key: str, original: str, status: m.ReportStatus, **fields: Any) -> bytes:
    return signer(pki, key).sign(status_bytes(original, status, **fields))


def receiver_token(gw: Gateway, app: FastAPI, unit: str) -> str:
    return client_token(gw, app, "receiver", unit=unit)
