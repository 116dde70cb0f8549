"""The exchange matrix (issue 17 item 8): each of the 13 packet types, made or taken in by the
product's own path (no hand-made packet), signed, in JSON and in XML, against the national simulator
over loopback; the simulator's validation (JSON Schema / XSD, model, rules, signature) accepts every
packet we send, and we accept (verify, validate, bind, store) every packet it issues to us.

Made by us and delivered through the outbox and a worker's attempts:
  SO_LIEU_BAO_CAO and DU_LIEU_CHI_SO (the scheduler), GUI_DE_CUONG (send_narrative), SO_LIEU_DANH_SACH
  (send_list from a CSV), TRANG_THAI_BAO_CAO (recall), the five catalogues (catalogues.publish).
Taken in on POST /v1/intake/packets, from the simulator's /sim/issue:
  CHE_DO_BAO_CAO, BIEU_MAU_BAO_CAO, BIEU_MAU_DE_CUONG; and TRANG_THAI_BAO_CAO, the simulator's signed
  answer to every delivery, verified before a delivery is acknowledged."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Literal

import httpx
import pytest
from sqlalchemy import select

from adapters.template_spec import load_template, resolve
from adapters.xlsx_templates import XlsxTemplateReader
from gateway import catalogues
from gateway.api.app import create_app
from gateway.calendar.regimes import load_regime
from gateway.clock import VN_TZ, FrozenClock
from gateway.db.models import Delivery, InboundPacket, Packet
from gateway.demo import MAPPING, SAMPLE
from gateway.ingest import ingest
from gateway.lifecycle import recall
from gateway.packets import model as m
from gateway.packets import safe
from gateway.packets.profile import load_profile
from gateway.packets.validate import read_packet
from gateway.reports.lists import send_list
from gateway.reports.narrative import DocumentInfo, NarrativeRequest, send_narrative
from gateway.scheduler import Scheduler
from gateway.settings import KeySettings, SigningSettings, TrustSettings
from gateway.signing.pdf import make_pdf, sign_pdf
from gateway.signing.testpki import party
from gateway.sim.faults import FaultPlan
from gateway.sim.issuer import ISSUE_PATH
from gateway.sim.server import BackgroundServer
from mappings.indicators import load_mapping
from tests.conftest import GatewayFactory, SimFactory, national_destination
from tests.support.api import client, token
from tests.support.signing import key, verifier

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_every_packet_type_both_ways_signed_and_accepted(
    gateway_factory: GatewayFactory,
    sim_factory: SimFactory,
    database_url: str,
    test_pki: Path,
    tmp_path: Path,
    fmt: Literal["json", "xml"],
) -> None:
    profile = load_profile()
    sim_signer, sim_verifier = party(test_pki, "national", profile)
    sim = sim_factory(FaultPlan(), signer=sim_signer, verifier=sim_verifier)
    clock = FrozenClock(datetime.now(VN_TZ))
    gw = gateway_factory(
        database_url=database_url,
        clock=clock,
        destinations={"national": national_destination(sim.receive_url).model_copy(update={"format": fmt})},
        signing=SigningSettings(
            keys=[KeySettings(path=test_pki / "signer.p12", passphrase_file=test_pki / "passphrase.txt")]
        ),
        trust=TrustSettings(dir=test_pki / "trust"),
    )

    # --- made by us
    ingest(gw.sessions, XlsxTemplateReader(SAMPLE), load_mapping(MAPPING), clock, reporting_unit="H15")
    Scheduler(gw, [load_regime("KTXH-THANG").model_copy(update={"start": date(2026, 10, 1)})], name="m").tick()
    section = tmp_path / "kinh-te.md"
    section.write_text("Tổng thu ngân sách tháng 10 đạt kế hoạch.\n", encoding="utf-8")
    pdf = tmp_path / "bao-cao.pdf"
    pdf.write_bytes(sign_pdf(make_pdf(["Báo cáo tháng 10/2026"]), key(test_pki, "signer")))
    send_narrative(
        gw,
        NarrativeRequest(
            "KTXH-THANG",
            "2026-THANG-10",
            "DC-KTXH-THANG",
            {"I.1": section},
            [pdf],
            DocumentInfo("45/BC-UBND", date(2026, 10, 20), "Báo cáo KT-XH tháng 10/2026", "Nguyễn Văn A", "Chủ tịch"),
        ),
        actor="operator:matrix",
    )
    send_list(
        gw,
        regime_code="KTXH-THANG",
        form="DS-DU-AN",
        period_key="2026-THANG-10",
        source=ROOT / "examples" / "lists" / "ds-du-an-2026-10.csv",
        spec=load_template(resolve("ds-du-an-dau-tu.yaml")),
        adapter="csv",
        actor="operator:matrix",
    )
    for kind in catalogues.CATALOGUE_TYPES:
        catalogues.publish(gw, kind, ["national"], actor="operator:matrix", year=2026)
    service = gw.delivery_service("matrix")

    def deliver_all() -> None:
        with gw.sessions() as s:
            pending = list(s.scalars(select(Delivery.id).where(Delivery.state == "pending")))
        for delivery_id in pending:
            assert service.attempt(delivery_id).outcome == "acknowledged", delivery_id

    deliver_all()
    with gw.sessions() as s:
        report = s.scalars(select(Packet.id).where(Packet.packet_type == "SO_LIEU_BAO_CAO")).first()
    assert report is not None
    recall(gw, report, actor="operator:matrix", reason="số liệu cần rà soát")
    deliver_all()

    sent: dict[str, list[bytes]] = {}
    with gw.sessions() as s:
        for packet_id, ptype in s.execute(select(Packet.id, Packet.packet_type)):
            received = sim.app.state.last_packets.get(packet_id)
            assert received is not None, (ptype, packet_id)  # the simulator validated it and kept it
            sent.setdefault(ptype, []).append(received)
        acks = set(s.scalars(select(Delivery.ack_status)))
    assert acks == {"DA_TIEP_NHAN"} and sim.stats["signature_refused"] == 0 and sim.stats["invalid"] == 0
    check = verifier(test_pki)
    for ptype, payloads in sent.items():
        for payload in payloads:
            assert safe.sniff(payload) == fmt, ptype
            assert check.verify(payload, ptype).signer.unit_code == "H15", ptype
            assert read_packet(payload, source=ptype).packet_type.value == ptype

    # --- taken in from the simulator
    app = create_app(gw)
    receiver_token = token(app, "client", client(gw, "receiver", unit="G01")[0], "receiver")
    taken: set[str] = set()
    with BackgroundServer(app) as api:
        for kind in ("CHE_DO_BAO_CAO", "BIEU_MAU_BAO_CAO", "BIEU_MAU_DE_CUONG"):
            answer = httpx.post(
                f"{sim.url}{ISSUE_PATH}",
                json={
                    "type": kind,
                    "intake_url": f"{api.url}/v1/intake/packets",
                    "token": receiver_token,
                    "to": {"code": "H15", "name": "Ủy ban nhân dân tỉnh Lào Cai"},
                    "format": fmt,
                },
                timeout=60,
            )
            assert answer.headers["x-intake-status"] == "200", answer.text
            status = read_packet(answer.content, source=f"answer to {kind}").body
            assert isinstance(status, m.StatusReport) and status.status is m.ReportStatus.DA_TIEP_NHAN, status
            assert check.verify(answer.content, "our answer").signer.unit_code == "H15"
            taken.add(kind)
    with gw.sessions() as s:
        inbound = {(r.packet_type, r.state, r.signer is not None) for r in s.scalars(select(InboundPacket))}
        inbound_bytes = [r.payload for r in s.scalars(select(InboundPacket))]
    assert inbound == {(k, "accepted", True) for k in taken}
    assert all(safe.sniff(b) == fmt for b in inbound_bytes)
    taken.add("TRANG_THAI_BAO_CAO")  # every acknowledgement above was the simulator's signed status, verified

    matrix = {t.value: (t.value in sent, t.value in taken) for t in m.PacketType}
    assert all(made or consumed for made, consumed in matrix.values()), matrix
    assert len(matrix) == 13
