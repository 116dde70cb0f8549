"""What was left of issue 17, over real loopback HTTP to the simulators: a return forwarded to the
provincial system in that destination's format; list-type reports sent by the scheduler when a
regime declares them; catalogues pushed to a destination through the outbox."""

from __future__ import annotations

from sqlalchemy import select

from adapters.xlsx_templates import XlsxTemplateReader
from gateway.calendar.regimes import load_regime
from gateway.db.models import Delivery
from gateway.demo import MAPPING, SAMPLE
from gateway.ingest import ingest
from gateway.packets import model as m
from gateway.packets.validate import read_packet
from gateway.reports import build_reports
from gateway.settings import UnitSettings
from gateway.sim.faults import FaultPlan
from mappings.indicators import load_mapping
from tests.conftest import GatewayFactory, SimFactory, national_destination
from tests.integration.test_lifecycle import PERIOD, deliver_all


def test_a_return_is_forwarded_in_the_provincial_destination_format(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str
) -> None:
    national = sim_factory(FaultPlan(script=("return",)))
    provincial = sim_factory(FaultPlan(), unit=m.Unit(code="H15-HT", name="Hệ thống báo cáo tỉnh"), name="province")
    gw = gateway_factory(
        database_url=database_url,
        destinations={
            "national": national_destination(national.receive_url),
            "provincial": national_destination(provincial.receive_url).model_copy(
                update={"format": "xml", "receiver": UnitSettings(code="H15-HT", name="Hệ thống báo cáo tỉnh")}
            ),  # the provincial system takes XML
        },
        forward_returns_to="provincial",
    )
    ingest(gw.sessions, XlsxTemplateReader(SAMPLE), load_mapping(MAPPING), gw.clock, reporting_unit="H15")
    built = build_reports(
        gw.sessions,
        load_regime("KTXH-THANG"),
        sender=gw.settings.sender,
        destinations=gw.settings.destinations,
        sealer=gw.sealer,
        clock=gw.clock,
        period_key=PERIOD,
    )
    assert len(built) == 2
    assert sorted(deliver_all(gw)) == ["acknowledged", "acknowledged", "returned"]
    with gw.sessions() as s:
        forwarded = s.scalars(select(Delivery).where(Delivery.destination == "provincial")).one()
    assert forwarded.state == "acknowledged"  # the simulator validated it against the XSD
    body = provincial.app.state.last_packets[forwarded.packet_id]
    assert body.lstrip().startswith(b"<")  # XML on the wire, not JSON (the old forward was always JSON)
    status = read_packet(body, source="forwarded").body
    assert isinstance(status, m.StatusReport) and status.status is m.ReportStatus.TRA_LAI
