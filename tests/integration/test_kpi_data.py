"""KPI data (DU_LIEU_CHI_SO) from the observations of the KPIs the mapping declares: the scheduler sends
it preliminary (SO_BO) with the run, ``reports send-kpis`` sends the official revision (CHINH_THUC);
both are signed and accepted by the simulator over loopback."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import yaml
from sqlalchemy import select

from adapters.xlsx_templates import XlsxTemplateReader
from gateway.calendar.regimes import load_regime
from gateway.clock import VN_TZ, FrozenClock
from gateway.db.models import Delivery, Packet
from gateway.demo import MAPPING, SAMPLE
from gateway.ingest import ingest
from gateway.packets import model as m
from gateway.packets.profile import load_profile
from gateway.packets.validate import read_packet
from gateway.reports.kpis import declared_kpis, send_kpis
from gateway.scheduler import Scheduler
from gateway.settings import KeySettings, SigningSettings, TrustSettings
from gateway.signing.testpki import party
from gateway.sim.faults import FaultPlan
from mappings.indicators import load_mapping
from tests.conftest import GatewayFactory, SimFactory, national_destination


def test_kpi_data_goes_preliminary_then_official(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str, test_pki: Path
) -> None:
    shipped = yaml.safe_load(Path(MAPPING).read_text(encoding="utf-8"))
    kpis = set(shipped["kpis"])  # read from the file as data, not through the loader
    assert kpis and kpis == declared_kpis("KTXH-THANG")
    profile = load_profile()
    signer, verifier = party(test_pki, "national", profile)
    sim = sim_factory(FaultPlan(), signer=signer, verifier=verifier)
    clock = FrozenClock(datetime.now(VN_TZ))
    gw = gateway_factory(
        database_url=database_url,
        clock=clock,
        destinations={"national": national_destination(sim.receive_url)},
        signing=SigningSettings(
            keys=[KeySettings(path=test_pki / "signer.p12", passphrase_file=test_pki / "passphrase.txt")]
        ),
        trust=TrustSettings(dir=test_pki / "trust"),
    )
    ingest(gw.sessions, XlsxTemplateReader(SAMPLE), load_mapping(MAPPING), clock, reporting_unit="H15")
    regime = load_regime("KTXH-THANG").model_copy(update={"start": date(2026, 10, 1)})
    Scheduler(gw, [regime], name="kpi").tick()
    send_kpis(gw, "KTXH-THANG", "2026-THANG-10", actor="operator:test")

    with gw.sessions() as s:
        packets = s.scalars(
            select(Packet).where(Packet.packet_type == "DU_LIEU_CHI_SO").order_by(Packet.revision)
        ).all()
        payloads = [(p.revision, p.payload) for p in packets]
        ids = [d for p in packets for d in s.scalars(select(Delivery.id).where(Delivery.packet_id == p.id))]
    assert [r for r, _ in payloads] == [1, 2]
    statuses = []
    for _, payload in payloads:
        body = read_packet(payload, source="kpi").body
        assert isinstance(body, m.KpiData)
        assert {v.kpi_code for v in body.kpi_values} == kpis
        assert {v.period.key for v in body.kpi_values} == {"2026-THANG-10"}
        statuses.append({v.figure_status for v in body.kpi_values})
    assert statuses == [{m.FigureStatus.SO_BO}, {m.FigureStatus.CHINH_THUC}]
    service = gw.delivery_service("kpi")
    assert {service.attempt(i).outcome for i in ids} == {"acknowledged"}
    assert sim.stats["signature_refused"] == 0
