"""The exchange matrix (issue 17 item 8): each of the 13 packet types, made or taken in by the
product's own path (no hand-made packet), signed, in JSON and in XML, against the national simulator
over loopback (and, in the second test, against a ministry and the provincial system); the
simulator's validation (JSON Schema / XSD, model, rules, signature) accepts every packet we send,
and we accept (verify, validate, bind, store) every packet it issues to us.

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
from gateway.calendar.regimes import ListReport, load_regime
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
from gateway.settings import KeySettings, SigningSettings, TrustSettings, UnitSettings
from gateway.signing.pdf import make_pdf, sign_pdf
from gateway.signing.testpki import party
from gateway.sim.faults import FaultPlan
from gateway.sim.issuer import ISSUE_PATH
from gateway.sim.server import BackgroundServer
from mappings.indicators import load_mapping
from tests.conftest import GatewayFactory, SimFactory, national_destination
from tests.integration.test_exchange_left import HAND_LIST
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


MINISTRY = m.Unit(code="B05", name="Bộ Kế hoạch và Đầu tư")
PROVINCE = m.Unit(code="H15-HT", name="Hệ thống thông tin báo cáo tỉnh Lào Cai")
US = {"code": "H15", "name": "Ủy ban nhân dân tỉnh Lào Cai"}


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_the_ministry_and_provincial_sides(
    gateway_factory: GatewayFactory,
    sim_factory: SimFactory,
    database_url: str,
    test_pki: Path,
    fmt: Literal["json", "xml"],
) -> None:
    """The other peers of the exchange, each a simulator over loopback with its own unit and key:
    a ministry (B05) that gets the same reports as the national system, in its own format, plus the KPI
    data, the list reports and the pushed catalogues, answers with its own signed status packets and
    issues a form to us; the provincial reporting system (H15-HT), which gets every packet taken in and
    the national system's return, each converted to its format where needed. The national system
    takes the other format, so one report goes out as two differently serialised, signed copies."""
    profile = load_profile()
    other: Literal["json", "xml"] = "xml" if fmt == "json" else "json"
    national_signer, national_verifier = party(test_pki, "national", profile)
    ministry_signer, ministry_verifier = party(test_pki, "ministry", profile)
    national = sim_factory(FaultPlan(script=("return",)), signer=national_signer, verifier=national_verifier)
    ministry = sim_factory(
        FaultPlan(), unit=MINISTRY, name="ministry", signer=ministry_signer, verifier=ministry_verifier
    )
    province = sim_factory(FaultPlan(), unit=PROVINCE, name="province")
    clock = FrozenClock(datetime.now(VN_TZ))
    gw = gateway_factory(
        database_url=database_url,
        clock=clock,
        destinations={
            "national": national_destination(national.receive_url).model_copy(update={"format": other}),
            "mpi": national_destination(ministry.receive_url).model_copy(
                update={"format": fmt, "receiver": UnitSettings(code=MINISTRY.code, name=MINISTRY.name)}
            ),
            "province": national_destination(province.receive_url).model_copy(
                update={
                    "format": fmt,
                    "receiver": UnitSettings(code=PROVINCE.code, name=PROVINCE.name),
                    "verify_status": False,  # the provincial system does not sign its answers
                }
            ),
        },
        forward_returns_to="province",
        inbound={"routes": {"*": ["province"]}},
        signing=SigningSettings(
            keys=[KeySettings(path=test_pki / "signer.p12", passphrase_file=test_pki / "passphrase.txt")]
        ),
        trust=TrustSettings(dir=test_pki / "trust"),
    )
    lists = gw.settings.data_dir / "lists"
    lists.mkdir(parents=True, exist_ok=True)
    (lists / "du-an-2026-THANG-10.csv").write_text(HAND_LIST, encoding="utf-8")
    regime = load_regime("KTXH-THANG").model_copy(
        update={
            "start": date(2026, 10, 1),
            "destinations": ["national", "mpi"],
            "lists": [ListReport(form="DS-DU-AN", template="ds-du-an-dau-tu", source="lists/du-an-{period}.csv")],
        }
    )
    ingest(gw.sessions, XlsxTemplateReader(SAMPLE), load_mapping(MAPPING), clock, reporting_unit="H15")
    Scheduler(gw, [regime], name="m").tick()
    for kind in catalogues.CATALOGUE_TYPES:
        catalogues.publish(gw, kind, ["mpi"], actor="operator:matrix", year=2026)
    service = gw.delivery_service("matrix")

    def deliver_all() -> list[str]:
        outcomes = []
        while True:
            with gw.sessions() as s:
                pending = list(s.scalars(select(Delivery.id).where(Delivery.state == "pending").order_by(Delivery.id)))
            if not pending:
                return outcomes
            outcomes.extend(service.attempt(delivery_id).outcome for delivery_id in pending)

    outcomes = deliver_all()
    assert outcomes.count("returned") == 1 and set(outcomes) <= {"acknowledged", "returned"}, outcomes

    check = verifier(test_pki)
    with gw.sessions() as s:
        rows = s.execute(
            select(Delivery.destination, Delivery.packet_id, Delivery.ack_status, Packet.packet_type).join(Packet)
        )
        by_destination: dict[str, list[tuple[str, str | None, str]]] = {}
        for destination, packet_id, ack, ptype in rows:
            by_destination.setdefault(destination, []).append((packet_id, ack, ptype))
    to_ministry = by_destination["mpi"]
    assert {p for _, _, p in to_ministry} == {
        "SO_LIEU_BAO_CAO", "DU_LIEU_CHI_SO", "SO_LIEU_DANH_SACH", *(k.value for k in catalogues.CATALOGUE_TYPES)
    }  # fmt: skip
    assert {ack for _, ack, _ in to_ministry} == {"DA_TIEP_NHAN"}  # its signed answers, verified and bound to B05
    for packet_id, _, ptype in to_ministry:
        payload = ministry.app.state.last_packets[packet_id]
        assert safe.sniff(payload) == fmt, ptype
        assert check.verify(payload, ptype).signer.unit_code == "H15", ptype
        assert read_packet(payload, source=ptype).receiver.code == "B05", ptype
    reports = [p for p, _, t in to_ministry if t == "SO_LIEU_BAO_CAO"]
    for packet_id in reports:  # the same report, the national system's copy in the other format
        copy = national.app.state.last_packets[packet_id]
        assert safe.sniff(copy) == other and read_packet(copy, source="national copy").receiver.code == "G01"
        assert check.verify(copy, "national copy").signer.unit_code == "H15"
    assert ministry.stats["invalid"] == 0 and ministry.stats["signature_refused"] == 0
    assert national.stats["invalid"] == 0 and national.stats["signature_refused"] == 0

    # Taken in: a form the ministry issues, a regime the national system issues (in the other format).
    app = create_app(gw)
    with BackgroundServer(app) as api:
        for sim, unit, kind, wire in (
            (ministry, "B05", "BIEU_MAU_BAO_CAO", fmt),
            (national, "G01", "CHE_DO_BAO_CAO", other),
        ):
            bearer_token = token(app, "client", client(gw, "receiver", unit=unit)[0], "receiver")
            answer = httpx.post(
                f"{sim.url}{ISSUE_PATH}",
                json={
                    "type": kind,
                    "intake_url": f"{api.url}/v1/intake/packets",
                    "token": bearer_token,
                    "to": US,
                    "format": wire,
                },
                timeout=60,
            )
            assert answer.headers["x-intake-status"] == "200", answer.text
            status = read_packet(answer.content, source=kind).body
            assert isinstance(status, m.StatusReport) and status.status is m.ReportStatus.DA_TIEP_NHAN
    assert set(deliver_all()) == {"acknowledged"}

    with gw.sessions() as s:
        inbound = {r.packet_type: (r.sender_code, r.routed_to) for r in s.scalars(select(InboundPacket))}
        to_province = {
            packet_type: packet_id
            for packet_id, packet_type in s.execute(
                select(Delivery.packet_id, Packet.packet_type).join(Packet).where(Delivery.destination == "province")
            )
        }
        states = set(s.scalars(select(Delivery.state).where(Delivery.destination == "province")))
    assert inbound == {"BIEU_MAU_BAO_CAO": ("B05", ["province"]), "CHE_DO_BAO_CAO": ("G01", ["province"])}
    assert set(to_province) == {"BIEU_MAU_BAO_CAO", "CHE_DO_BAO_CAO", "TRANG_THAI_BAO_CAO"} and states == {
        "acknowledged"
    }
    for ptype, packet_id in to_province.items():  # each in the provincial system's format
        payload = province.app.state.last_packets[packet_id]
        assert safe.sniff(payload) == fmt, ptype
    returned = read_packet(province.app.state.last_packets[to_province["TRANG_THAI_BAO_CAO"]], source="return").body
    assert isinstance(returned, m.StatusReport) and returned.status is m.ReportStatus.TRA_LAI
    assert province.stats["invalid"] == 0
