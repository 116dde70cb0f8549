"""Each destination in its own format: one canonical report, serialised and signed per destination
(issue 17 item 4), by the scheduler and by ``reports correct``; and a regime routed to a destination
that is not configured is a configuration error naming its file."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import select

from adapters.xlsx_templates import XlsxTemplateReader
from gateway.bootstrap import Gateway
from gateway.calendar.regimes import load_regime
from gateway.clock import VN_TZ, FrozenClock
from gateway.db.models import Delivery, Packet
from gateway.demo import MAPPING, SAMPLE
from gateway.errors import ConfigurationError
from gateway.ingest import ingest
from gateway.lifecycle import ReportKey, correct
from gateway.packets import model as m
from gateway.packets.profile import load_profile
from gateway.packets.validate import read_packet
from gateway.scheduler import Scheduler
from gateway.settings import DestinationSettings, KeySettings, SigningSettings, TrustSettings, UnitSettings
from gateway.signing.testpki import party
from gateway.sim.faults import FaultPlan
from mappings.indicators import load_mapping
from tests.conftest import GatewayFactory, SimFactory, national_destination
from tests.support.signing import verifier

PROFILE = load_profile()
MINISTRY = m.Unit(code="B05", name="Bộ Kế hoạch và Đầu tư")


def two_formats(
    gateway_factory: GatewayFactory, database_url: str, pki: Path, national_url: str, ministry_url: str
) -> Gateway:
    clock = FrozenClock(datetime.now(VN_TZ))  # the test PKI's certificates are issued now
    ministry = national_destination(ministry_url).model_copy(
        update={"format": "xml", "receiver": UnitSettings(code=MINISTRY.code, name=MINISTRY.name)}
    )
    gw = gateway_factory(
        database_url=database_url,
        clock=clock,
        destinations={"national": national_destination(national_url), "ministry": ministry},
        signing=SigningSettings(keys=[KeySettings(path=pki / "signer.p12", passphrase_file=pki / "passphrase.txt")]),
        trust=TrustSettings(dir=pki / "trust"),
    )
    ingest(gw.sessions, XlsxTemplateReader(SAMPLE), load_mapping(MAPPING), clock, reporting_unit="H15")
    return gw


def test_one_report_goes_to_a_json_and_an_xml_destination_each_signed_in_its_format(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str, test_pki: Path
) -> None:
    sim_signer, sim_verifier = party(test_pki, "national", PROFILE)
    national = sim_factory(FaultPlan(), signer=sim_signer, verifier=sim_verifier)
    ministry_signer, _ = party(test_pki, "ministry", PROFILE)
    ministry = sim_factory(FaultPlan(), unit=MINISTRY, name="ministry", signer=ministry_signer, verifier=sim_verifier)
    gw = two_formats(gateway_factory, database_url, test_pki, national.receive_url, ministry.receive_url)
    regime = load_regime("KTXH-THANG").model_copy(
        update={"destinations": ["national", "ministry"], "start": date(2026, 10, 1)}
    )
    results = Scheduler(gw, [regime], name="routing").tick()
    assert [(r.period_key, r.packets) for r in results if r.packets] == [("2026-THANG-10", 2)]

    with gw.sessions() as s:
        rows = s.execute(
            select(Delivery, Packet)
            .join(Packet)
            .where(Packet.packet_type == "SO_LIEU_BAO_CAO")
            .order_by(Packet.form_code, Delivery.destination)
        ).all()
        copies = {
            (p.form_code, d.destination): (d.payload or p.payload, d.content_type or p.content_type) for d, p in rows
        }
        ids = [d.id for d, _ in rows]
    assert len(copies) == 4
    check = verifier(test_pki)
    for (form, destination), (payload, ctype) in copies.items():
        envelope = read_packet(payload, source=f"{form} to {destination}")
        if destination == "ministry":
            assert ctype == "application/xml" and payload.lstrip().startswith(b"<")
            assert etree.fromstring(payload).find("{http://www.w3.org/2000/09/xmldsig#}Signature") is not None
            assert envelope.receiver == MINISTRY
        else:
            assert ctype == "application/json" and payload.lstrip().startswith(b"{")
            assert envelope.receiver.code == "G01"
        assert check.verify(payload, destination).signer.unit_code == "H15"
    # One canonical report: the same MaGoiTin and the same figures in both copies.
    for form in ("BM01-KT", "BM02-XH"):
        json_copy = read_packet(copies[(form, "national")][0], source="json")
        xml_copy = read_packet(copies[(form, "ministry")][0], source="xml")
        assert json_copy.packet_id == xml_copy.packet_id
        assert json_copy.body == xml_copy.body

    service = gw.delivery_service("routing")
    assert {service.attempt(i).outcome for i in ids} == {"acknowledged"}
    assert national.stats["signature_refused"] == ministry.stats["signature_refused"] == 0
    assert all(b.lstrip().startswith(b"<") for b in ministry.app.state.last_packets.values())
    assert all(b.lstrip().startswith(b"{") for b in national.app.state.last_packets.values())

    # ``reports correct``: revision 2 goes out the same way, each destination in its format.
    built = correct(gw, ReportKey("KTXH-THANG", "BM01-KT", "2026-THANG-10", "H15"), actor="op", reason="typo")
    with gw.sessions() as s:
        again = {
            d.destination: (d.payload or p.payload)
            for d, p in s.execute(select(Delivery, Packet).join(Packet).where(Packet.id == built.packet_id))
        }
    assert again["ministry"].lstrip().startswith(b"<") and again["national"].lstrip().startswith(b"{")
    body = read_packet(again["ministry"], source="revision 2").body
    assert isinstance(body, m.ReportFigures) and body.revision == 2


def test_a_regime_routed_to_an_unconfigured_destination_is_refused_at_start_naming_its_file(
    gateway_factory: GatewayFactory, tmp_path: Path
) -> None:
    gw = gateway_factory(
        destinations={"lgsp": DestinationSettings(url="http://127.0.0.1:9/x", receiver={"code": "G01", "name": "G"})}
    )
    with pytest.raises(ConfigurationError) as raised:
        Scheduler(gw, [load_regime("KTXH-THANG")])
    message = str(raised.value)
    assert "KTXH-THANG.yaml" in message and "'national'" in message and "lgsp" in message
