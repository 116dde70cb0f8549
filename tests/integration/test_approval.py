"""Approval before sending: a regime with approval required has its reports held, unsigned and
unqueued, until an account with the approver role (not the one that prepared them) approves; a
rejection goes back to the source system as a returned report with the reason; both audited; a
report waiting close to its deadline is flagged in /metrics."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from adapters.xlsx_templates import XlsxTemplateReader
from gateway import metrics
from gateway.calendar.regimes import ApprovalRule, load_regime
from gateway.clock import VN_TZ, FrozenClock
from gateway.db.models import AuditEvent, Delivery, Observation, Packet, ReportApproval
from gateway.demo import MAPPING, SAMPLE
from gateway.ingest import ingest
from gateway.packets import model as m
from gateway.packets.profile import load_profile
from gateway.packets.validate import read_packet
from gateway.reports.approval import ApprovalRefused, approve, listing, reject
from gateway.scheduler import Scheduler
from gateway.settings import KeySettings, SigningSettings, TrustSettings, UnitSettings
from gateway.signing.testpki import party
from gateway.sim.faults import FaultPlan
from mappings.indicators import load_mapping
from tests.conftest import GatewayFactory, SimFactory, national_destination
from tests.support.api import user
from tests.support.signing import verifier


def test_reports_wait_for_an_approver_and_a_rejection_goes_back_to_the_source(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str, test_pki: Path
) -> None:
    signer, sim_verifier = party(test_pki, "national", load_profile())
    national = sim_factory(FaultPlan(), signer=signer, verifier=sim_verifier)
    province = sim_factory(FaultPlan(), unit=m.Unit(code="H15-HT", name="Hệ thống báo cáo tỉnh"), name="province")
    clock = FrozenClock(datetime.now(VN_TZ))
    gw = gateway_factory(
        database_url=database_url,
        clock=clock,
        destinations={
            "national": national_destination(national.receive_url),
            "province": national_destination(province.receive_url).model_copy(
                update={"receiver": UnitSettings(code="H15-HT", name="Hệ thống báo cáo tỉnh"), "verify_status": False}
            ),
        },
        forward_returns_to="province",
        signing=SigningSettings(
            keys=[KeySettings(path=test_pki / "signer.p12", passphrase_file=test_pki / "passphrase.txt")]
        ),
        trust=TrustSettings(dir=test_pki / "trust"),
    )
    ingest(gw.sessions, XlsxTemplateReader(SAMPLE), load_mapping(MAPPING), clock, reporting_unit="H15")
    regime = load_regime("KTXH-THANG").model_copy(
        update={"start": date(2026, 10, 1), "approval": ApprovalRule(required=True, warn_hours=24 * 400)}
    )
    Scheduler(gw, [regime], name="lan").tick()  # prepared by "scheduler:lan"

    with gw.sessions() as s:
        report_packets = s.scalar(
            select(func.count()).select_from(Packet).where(Packet.packet_type == "SO_LIEU_BAO_CAO")
        )
        unsent = s.scalar(select(func.count()).select_from(Observation).where(Observation.packet_id.is_(None)))
    assert report_packets == 0 and unsent  # nothing sealed or queued, the observations still unsent
    waiting = listing(gw)
    assert sorted(w.form for w in waiting) == ["BM01-KT", "BM02-XH"] and all(w.due_soon for w in waiting)
    scrape = metrics.render(gw).decode()
    assert "gateway_reports_awaiting_approval 2.0" in scrape and "gateway_reports_approval_due_soon 2.0" in scrape

    user(gw, "lan", "approver")  # the same name as the preparer
    user(gw, "vanhanh", "operator")
    user(gw, "lanhdao", "approver")
    first, second = waiting
    with pytest.raises(ApprovalRefused, match="another account"):
        approve(gw, first.id, approver="lan")
    with pytest.raises(ApprovalRefused, match="approver role"):
        approve(gw, first.id, approver="vanhanh")
    packet_id = approve(gw, first.id, approver="lanhdao")
    with gw.sessions() as s:
        (delivery_id,) = s.scalars(select(Delivery.id).where(Delivery.packet_id == packet_id))
        packet = s.get(Packet, packet_id)
        assert packet is not None and packet.revision == 1
        marked = s.scalar(select(func.count()).select_from(Observation).where(Observation.packet_id == packet_id))
    assert marked == first.values
    assert gw.delivery_service("t").attempt(delivery_id).outcome == "acknowledged"
    assert verifier(test_pki).verify(national.app.state.last_packets[packet_id], "sent").signer.unit_code == "H15"

    returned = reject(gw, second.id, approver="lanhdao", reason="Số liệu thu ngân sách chưa khớp với Sở Tài chính")
    assert returned is not None
    with gw.sessions() as s:
        (back,) = s.scalars(select(Delivery.id).where(Delivery.packet_id == returned))
        states = {a.state for a in s.scalars(select(ReportApproval))}
        actions = [e.action for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert gw.delivery_service("t").attempt(back).outcome == "acknowledged"
    status = read_packet(province.app.state.last_packets[returned], source="returned").body
    assert isinstance(status, m.StatusReport)
    assert (
        status.status is m.ReportStatus.TRA_LAI and status.reason == "Số liệu thu ngân sách chưa khớp với Sở Tài chính"
    )
    assert str(status.original_packet_id) == second.packet_id and status.handler == "lanhdao"
    assert states == {"approved", "rejected"} and listing(gw) == []
    assert actions.count("report.awaiting_approval") == 2
    assert "report.approved" in actions and "report.rejected" in actions
    # the refused attempts above are audited too, each with who tried and why (not rolled back unseen)
    with gw.sessions() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "report.decision_refused"))
        refused = [(e.actor, e.detail["why"]) for e in events]
    assert [actor for actor, _ in refused] == ["approver:lan", "approver:vanhanh"]
    assert "another account" in refused[0][1] and "approver role" in refused[1][1]
    with pytest.raises(Exception, match="already rejected"):
        approve(gw, second.id, approver="lanhdao")
