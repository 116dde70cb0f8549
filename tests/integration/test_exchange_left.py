"""What was left of issue 17, over real loopback HTTP to the simulators: a return forwarded to the
provincial system in that destination's format; list-type reports sent by the scheduler when a
regime declares them; catalogues pushed to a destination through the outbox."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select

from adapters.xlsx_templates import XlsxTemplateReader
from gateway.calendar.regimes import ListReport, RegimeDef, load_regime
from gateway.clock import VN_TZ, FrozenClock
from gateway.db.models import Delivery, Packet
from gateway.demo import MAPPING, SAMPLE
from gateway.ingest import ingest
from gateway.packets import model as m
from gateway.packets.validate import read_packet
from gateway.reports import build_reports
from gateway.scheduler import Scheduler
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


# A list as a department sends it, typed by hand (not produced by our writer): a title block, the
# header on row 4, a group heading row without a project code, a signature row.
HAND_LIST = (
    "UBND TỈNH LÀO CAI,,,,,\n"
    "DANH SÁCH DỰ ÁN ĐẦU TƯ ĐƯỢC CẤP CHỦ TRƯƠNG THÁNG 10/2026,,,,,\n"
    ",,,,,\n"
    "STT,Mã dự án,Tên dự án,Địa điểm,Tổng mức đầu tư (triệu đồng),Ngày cấp\n"
    "I,,Dự án sử dụng vốn ngân sách,,,\n"
    '1,DA-2026-301,"Cầu treo bản Pờ Hồ, xã Trịnh Tường",Xã Trịnh Tường,"18500",2026-10-02\n'
    "2,DA-2026-302,Trạm y tế xã Dền Sáng,Xã Dền Sáng,9750.25,2026-10-11\n"
    ",,,,,\n"
    "Người lập biểu,,,,Thủ trưởng đơn vị,\n"
)


def test_the_scheduler_sends_the_list_reports_a_regime_declares(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str
) -> None:
    national = sim_factory(FaultPlan())
    gw = gateway_factory(
        database_url=database_url,
        clock=FrozenClock(datetime.now(VN_TZ)),
        destinations={"national": national_destination(national.receive_url).model_copy(update={"format": "xml"})},
    )
    folder = gw.settings.data_dir / "lists"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"du-an-{PERIOD}.csv").write_text(HAND_LIST, encoding="utf-8")
    (folder / "du-an-2026-THANG-11.csv").write_text("STT;Mã dự án\nnot a list\n", encoding="utf-8")
    regime = load_regime("KTXH-THANG").model_copy(
        update={
            "start": date(2026, 10, 1),
            "lists": [ListReport(form="DS-DU-AN", template="ds-du-an-dau-tu", source="lists/du-an-{period}.csv")],
        }
    )
    assert (
        RegimeDef.model_validate(  # a regime's YAML says so with `lists:`
            {**regime.model_dump(mode="json"), "lists": [{"form": "X", "template": "t", "source": "a-{period}.csv"}]}
        )
        .lists[0]
        .form
        == "X"
    )
    results = {r.period_key: r for r in Scheduler(gw, [regime], name="lich").tick()}
    assert "list reports: 1 packet(s)" in (results[PERIOD].note or "")
    november = results["2026-THANG-11"].note or ""
    assert "list DS-DU-AN not sent" in november and "du-an-2026-THANG-11.csv" in november
    with gw.sessions() as s:
        (packet,) = s.scalars(select(Packet).where(Packet.packet_type == "SO_LIEU_DANH_SACH"))
        (delivery,) = s.scalars(select(Delivery).where(Delivery.packet_id == packet.id))
    assert (packet.form_code, packet.period_key, packet.revision) == ("DS-DU-AN", PERIOD, 1)
    assert gw.delivery_service("t").attempt(delivery.id).outcome == "acknowledged"  # XSD-valid to the simulator
    sent = national.app.state.last_packets[packet.id]
    body = read_packet(sent, source="list").body
    assert sent.lstrip().startswith(b"<") and isinstance(body, m.ReportList)
    assert [(r.ordinal, [f.value for f in r.fields]) for r in body.records] == [
        (1, ["DA-2026-301", "Cầu treo bản Pờ Hồ, xã Trịnh Tường", "Xã Trịnh Tường", "18500", "2026-10-02"]),
        (2, ["DA-2026-302", "Trạm y tế xã Dền Sáng", "Xã Dền Sáng", "9750.25", "2026-10-11"]),
    ]
    assert Scheduler(gw, [regime], name="lich").tick() == []  # once per run: the list is not sent twice
