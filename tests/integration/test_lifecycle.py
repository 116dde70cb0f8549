"""A report's life after sending: returned with a reason (and forwarded to the provincial system),
corrected as revision 2 through the simulator, recalled or correction-requested; and the fallback
bundle for the document-management channel."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from adapters.xlsx_templates import XlsxTemplateReader
from gateway.bootstrap import Gateway
from gateway.calendar.regimes import load_regime
from gateway.db.models import AuditEvent, Delivery, Packet
from gateway.demo import MAPPING, SAMPLE
from gateway.fallback import export_bundle, verify_bundle
from gateway.ingest import ingest
from gateway.lifecycle import LifecycleError, ReportKey, correct, recall, request_correction, revisions
from gateway.packets import model as m
from gateway.packets.validate import read_packet
from gateway.reports import BuiltPacket, build_reports
from gateway.sim.faults import FaultPlan
from mappings.indicators import load_mapping
from tests.conftest import GatewayFactory, SimFactory, national_destination
from tests.support.packets import status_packet

PERIOD = "2026-THANG-10"


def setup(
    gateway_factory: GatewayFactory, database_url: str, national_url: str, provincial_url: str | None = None
) -> tuple[Gateway, list[BuiltPacket]]:
    destinations = {"national": national_destination(national_url)}
    if provincial_url:
        destinations["provincial"] = national_destination(provincial_url)
    gw = gateway_factory(
        database_url=database_url,
        destinations=destinations,
        forward_returns_to="provincial" if provincial_url else None,
    )
    ingest(gw.sessions, XlsxTemplateReader(SAMPLE), load_mapping(MAPPING), gw.clock, reporting_unit="H15")
    built = build_reports(
        gw.sessions,
        load_regime("KTXH-THANG"),
        sender=gw.settings.sender,
        destinations={"national": gw.settings.destinations["national"]},
        sealer=gw.sealer,
        clock=gw.clock,
        period_key=PERIOD,
    )
    return gw, built


def deliver_all(gw: Gateway) -> list[str]:
    service = gw.delivery_service("lifecycle")
    outcomes = []
    while (result := service.attempt_next()) is not None:
        outcomes.append(result.outcome)
    return outcomes


def test_returned_report_is_forwarded_corrected_and_resent_as_revision_2(
    gateway_factory: GatewayFactory,
    sim_factory: SimFactory,
    database_url: str,
) -> None:
    national = sim_factory(FaultPlan(script=("return",)))
    provincial = sim_factory(FaultPlan())
    gw, built = setup(gateway_factory, database_url, national.receive_url, provincial.receive_url)
    assert len(built) == 2  # two forms for October
    outcomes = deliver_all(gw)
    assert sorted(outcomes) == ["acknowledged", "acknowledged", "returned"]  # + the forwarded status
    with gw.sessions() as s:
        returned = s.scalars(select(Delivery).where(Delivery.state == "returned")).one()
        assert returned.ack_status == "TRA_LAI" and "kiểm tra lại" in (returned.ack_reason or "")
        packet = s.get(Packet, returned.packet_id)
        assert packet is not None
        forwarded = s.scalars(select(Delivery).where(Delivery.destination == "provincial")).one()
        assert forwarded.state == "acknowledged"
    assert set(provincial.app.state.stats.received) == {forwarded.packet_id}  # the provincial system was told
    key = ReportKey(packet.regime_code or "", packet.form_code or "", PERIOD, "H15")

    second = correct(gw, key, actor="operator:lan", reason="đã kiểm tra lại số liệu")
    assert deliver_all(gw) == ["acknowledged"]
    history = revisions(gw, key)
    assert [p.revision for p in history] == [1, 2]
    assert history[1].id == second.packet_id
    assert read_packet(history[1].payload).body.revision == 2  # type: ignore[attr-defined]
    with gw.sessions() as s:
        states = {d.packet_id: d.state for d in s.scalars(select(Delivery).where(Delivery.destination == "national"))}
        assert states[history[0].id] == "returned" and states[history[1].id] == "acknowledged"  # both kept
        actions = [a.action for a in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    for action in ("packet.stored", "delivery.returned", "report.corrected", "delivery.acknowledged"):
        assert action in actions
    assert actions.index("delivery.returned") < actions.index("report.corrected")


def test_recall_before_approval_and_correction_request_after(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str
) -> None:
    national = sim_factory(FaultPlan())
    gw, built = setup(gateway_factory, database_url, national.receive_url)
    deliver_all(gw)
    first, second = (b.packet_id for b in built)
    with pytest.raises(LifecycleError, match="not approved yet"):
        request_correction(gw, first, actor="operator:lan", reason="sai số liệu xã Y Tý")
    recall_id = recall(gw, first, actor="operator:lan", reason="phát hiện sai sót")
    assert deliver_all(gw) == ["acknowledged"]
    assert recall_id in national.app.state.stats.received

    approval = national.app  # the host agency approves the second report: DA_DUYET arrives on our intake
    status = read_packet(write_status(gw, second, m.ReportStatus.DA_DUYET))
    assert gw.delivery_service("intake").intake_status(status, "national", actor="receiver:G01") == "applied"
    with pytest.raises(LifecycleError, match="already approved"):
        recall(gw, second, actor="operator:lan")
    request_id = request_correction(gw, second, actor="operator:lan", reason="cập nhật số liệu chính thức")
    assert deliver_all(gw) == ["acknowledged"]
    received = read_packet_from(approval, request_id)
    assert received.body.status is m.ReportStatus.YEU_CAU_DINH_CHINH  # type: ignore[attr-defined]


def write_status(gw: Gateway, packet_id: str, status: m.ReportStatus) -> bytes:
    with gw.sessions() as s:
        original = read_packet(s.get(Packet, packet_id).payload)
    body = original.body
    return status_packet(packet_id, status, period=body.period, unit=body.reporting_unit)  # type: ignore[attr-defined]


def read_packet_from(app: FastAPI, packet_id: str) -> m.Envelope:
    assert packet_id in app.state.stats.received
    return read_packet(app.state.last_packets[packet_id])


def test_fallback_bundle_holds_every_due_packet_with_verified_hashes(
    gateway_factory: GatewayFactory,
    sim_factory: SimFactory,
    database_url: str,
    tmp_path: Path,
) -> None:
    national = sim_factory(FaultPlan(down=True))  # the national system is unreachable past the deadline
    gw, built = setup(gateway_factory, database_url, national.receive_url)
    bundle = export_bundle(gw, PERIOD, tmp_path, regime="KTXH-THANG", actor="operator:lan")
    assert bundle.packets == 2
    assert verify_bundle(bundle.path) == []
    with zipfile.ZipFile(bundle.path) as zf:
        names = sorted(zf.namelist())
        assert names == sorted(["manifest.json"] + [f"packets/{b.packet_id}.json" for b in built])
        for b in built:
            read_packet(zf.read(f"packets/{b.packet_id}.json"))  # each one is a valid packet as sent
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(bundle.path) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.namelist():
            data = src.read(item)
            dst.writestr(item, data.replace(b'"GiaTri":"', b'"GiaTri":"9') if item.startswith("packets/") else data)
    assert len(verify_bundle(tampered)) == 2
    with gw.sessions() as s:
        assert all(d.sent_out_of_band_at is not None for d in s.scalars(select(Delivery)))
    national.set_faults(FaultPlan())  # the connection returns: the same packets are delivered as usual
    assert deliver_all(gw) == ["acknowledged", "acknowledged"]


def test_no_report_is_sent_by_hand_while_its_data_window_is_open(
    gateway_factory: GatewayFactory, database_url: str
) -> None:
    """``reports correct`` of a report never sent queued LanGui 1 for a period whose window was still
    open (December, on 2 December; found from outside), and ``send-kpis`` likewise: refused now, saying
    when the window ends and when the scheduler sends it. Once the window has ended it goes."""
    from datetime import datetime

    from gateway.clock import VN_TZ, FrozenClock
    from gateway.errors import InputError
    from gateway.reports.kpis import send_kpis

    clock = FrozenClock(datetime(2026, 10, 10, 9, tzinfo=VN_TZ))  # October's window: 15 Sep - 14 Oct
    gw = gateway_factory(
        database_url=database_url, clock=clock, destinations={"national": national_destination("http://127.0.0.1:9/x")}
    )
    ingest(gw.sessions, XlsxTemplateReader(SAMPLE), load_mapping(MAPPING), clock, reporting_unit="H15")
    key = ReportKey("KTXH-THANG", "BM01-KT", PERIOD, "H15")
    with pytest.raises(InputError, match=r"2026-THANG-10 is still open: its data window ends 2026-10-14"):
        correct(gw, key, actor="operator:lan", reason="gửi sớm")
    with pytest.raises(InputError, match="is still open"):
        send_kpis(gw, "KTXH-THANG", PERIOD, actor="operator:lan")
    with gw.sessions() as s:
        assert s.scalars(select(Packet)).all() == []
    clock.advance(datetime(2026, 10, 15, 8, tzinfo=VN_TZ) - clock.now())
    assert correct(gw, key, actor="operator:lan", reason="gửi sau khi hết kỳ").values > 0
