"""Issue 18 items 1 and 2: a status packet changes only the delivery whose receiver signed it, sent it
and posted it, and it must be addressed to us; a late refusal after acknowledgement is kept, flagged
and alerted, never a 500. Over real loopback HTTP, with the test PKI's real keys, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from gateway.api.app import create_app
from gateway.bootstrap import Gateway
from gateway.clock import VN_TZ
from gateway.db.models import ApiClient, AuditEvent, Delivery
from gateway.packets import model as m
from gateway.sim.server import BackgroundServer
from tests.conftest import GatewayFactory
from tests.security.support import acknowledged_packet, receiver_token, signed_gateway, signed_status, states
from tests.support.api import bearer, token, user

TRA_LAI, TU_CHOI = m.ReportStatus.TRA_LAI, m.ReportStatus.TU_CHOI


class Intake:
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.app = create_app(gw)
        self.server = BackgroundServer(self.app).start()

    def post(self, body: bytes, unit: str | None = "G01", *, token_value: str | None = None) -> httpx.Response:
        value = token_value or receiver_token(self.gw, self.app, unit or "G01")
        return httpx.post(f"{self.server.url}/v1/intake/status", content=body, headers=bearer(value), timeout=20)


@pytest.fixture
def intake(gateway_factory: GatewayFactory, database_url: str, test_pki: Path) -> Iterator[Intake]:
    gw = signed_gateway(gateway_factory, database_url, test_pki)
    box = Intake(gw)
    yield box
    box.server.stop()


def test_a_ministry_return_changes_only_the_ministry_delivery(intake: Intake, test_pki: Path) -> None:
    """The report's probe: a TRA_LAI signed by the ministry (B05) turned the national deliveries to returned."""
    packet, ids = acknowledged_packet(intake.gw)
    body = signed_status(test_pki, "ministry", packet, TRA_LAI, sender="B05", reason="Bộ trả lại")
    answer = intake.post(body, "B05")
    assert answer.status_code == 202, answer.text
    assert states(intake.gw, ids) == {"national": "acknowledged", "ministry": "returned"}


def test_the_province_own_key_cannot_return_the_national_delivery(intake: Intake, test_pki: Path) -> None:
    packet, ids = acknowledged_packet(intake.gw)
    as_province = signed_status(test_pki, "signer", packet, TRA_LAI, sender="H15")
    answer = intake.post(as_province, "G01")
    assert answer.status_code == 422 and answer.json()["code"] == "client_mismatch", answer.text
    # Even an administrator relaying it: H15 received nothing, so nothing changes.
    admin = token(intake.app, "user", user(intake.gw, "relayadmin", "admin"), "admin")
    assert intake.post(as_province, token_value=admin).status_code == 404
    assert states(intake.gw, ids) == {"national": "acknowledged", "ministry": "acknowledged"}


def test_a_status_addressed_to_another_province_is_refused(intake: Intake, test_pki: Path) -> None:
    packet, ids = acknowledged_packet(intake.gw)
    answer = intake.post(signed_status(test_pki, "national", packet, TRA_LAI, receiver="H99"))
    assert answer.status_code == 422 and answer.json()["code"] == "misaddressed", answer.text
    assert states(intake.gw, ids) == {"national": "acknowledged", "ministry": "acknowledged"}


def test_a_status_signed_by_one_unit_but_claiming_another_is_refused(intake: Intake, test_pki: Path) -> None:
    packet, ids = acknowledged_packet(intake.gw)
    answer = intake.post(signed_status(test_pki, "ministry", packet, TRA_LAI, sender="G01"), "G01")
    assert answer.status_code == 422 and answer.json()["code"] == "signer_mismatch", answer.text
    assert states(intake.gw, ids) == {"national": "acknowledged", "ministry": "acknowledged"}


def test_a_receiver_client_cannot_post_another_receivers_status(intake: Intake, test_pki: Path) -> None:
    packet, ids = acknowledged_packet(intake.gw)
    answer = intake.post(signed_status(test_pki, "national", packet, TRA_LAI), "B05")
    assert answer.status_code == 422 and answer.json()["code"] == "client_mismatch", answer.text
    assert states(intake.gw, ids) == {"national": "acknowledged", "ministry": "acknowledged"}
    with intake.gw.sessions() as s:
        refusals = s.scalars(select(AuditEvent).where(AuditEvent.action == "signature.rejected")).all()
        assert [e.detail["code"] for e in refusals] == ["client_mismatch"]


def test_a_receiver_client_bound_to_no_unit_is_refused(intake: Intake, test_pki: Path) -> None:
    packet, ids = acknowledged_packet(intake.gw)
    client_id = "c-legacy-receiver"
    with intake.gw.sessions.begin() as s:  # a row as version 0006 stored it, before clients had a unit
        s.add(
            ApiClient(
                client_id=client_id,
                name="legacy",
                role="receiver",
                grants={},
                secret_hash="x",
                created_at=intake.gw.clock.now(),
            )
        )
    answer = intake.post(
        signed_status(test_pki, "national", packet, TRA_LAI),
        token_value=token(intake.app, "client", client_id, "receiver"),
    )
    assert answer.status_code == 422 and answer.json()["code"] == "client_unbound", answer.text
    assert states(intake.gw, ids) == {"national": "acknowledged", "ministry": "acknowledged"}


def test_the_genuine_receiver_still_returns_its_own_delivery(intake: Intake, test_pki: Path) -> None:
    packet, ids = acknowledged_packet(intake.gw)
    answer = intake.post(signed_status(test_pki, "national", packet, TRA_LAI, reason="Thiếu số liệu"), "G01")
    assert answer.status_code == 202, answer.text
    assert states(intake.gw, ids) == {"national": "returned", "ministry": "acknowledged"}


def test_a_late_refusal_after_acknowledgement_is_kept_flagged_and_alerted(
    intake: Intake, test_pki: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Item 2: TU_CHOI for an acknowledged delivery answered 500 (no acknowledged -> rejected edge)."""
    packet, ids = acknowledged_packet(intake.gw)
    body = signed_status(test_pki, "national", packet, TU_CHOI, reason="Phát hiện sai sót sau khi tiếp nhận")
    answer = intake.post(body, "G01")
    assert answer.status_code == 202, answer.text
    assert intake.post(body, "G01").json()["result"] == "duplicate"
    with intake.gw.sessions() as s:
        national = s.get(Delivery, ids["national"])
        assert national is not None
        assert national.state == "acknowledged"  # what was accepted stays accepted ...
        assert national.ack_status == "TU_CHOI"  # ... the refusal is the latest answer on record ...
        assert national.attention and "late TU_CHOI after acknowledged" in national.attention  # ... flagged
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "delivery.late_status")).one()
        assert event.detail["reason"] == "Phát hiện sai sót sau khi tiếp nhận"
        assert s.get(Delivery, ids["ministry"]).attention is None  # type: ignore[union-attr]
    scrape = httpx.get(
        f"{intake.server.url}/metrics",
        headers=bearer(token(intake.app, "user", user(intake.gw, "watcher", "operator"), "operator")),
        timeout=20,
    )
    assert 'gateway_deliveries_needing_attention{destination="national"} 1.0' in scrape.text


def test_a_status_naming_another_report_than_the_packet_it_answers_is_refused(intake: Intake, test_pki: Path) -> None:
    """Found from outside: a status quoting our MaGoiTin but another LanGui or KyBaoCao was applied (a
    return of revision 2 would have returned revision 1). It is refused, named, audited; nothing changes."""
    packet, ids = acknowledged_packet(intake.gw)
    other_revision = intake.post(signed_status(test_pki, "national", packet, TRA_LAI, revision=2), "G01")
    assert other_revision.status_code == 422 and other_revision.json()["code"] == "wrong_report", other_revision.text
    assert "LanGui is 2, the packet's is 1" in other_revision.json()["detail"]
    other_period = intake.post(signed_status(test_pki, "national", packet, TRA_LAI, month=10), "G01")
    assert other_period.status_code == 422, other_period.text
    assert "KyBaoCao is 2026-THANG-10, the packet's is 2026-THANG-1" in other_period.json()["detail"]
    assert states(intake.gw, ids) == {"national": "acknowledged", "ministry": "acknowledged"}
    with intake.gw.sessions() as s:
        codes = [
            e.detail["code"] for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "signature.rejected"))
        ]
    assert codes == ["wrong_report", "wrong_report"]


def test_an_older_return_arriving_after_a_newer_approval_changes_nothing(intake: Intake, test_pki: Path) -> None:
    """Status packets were applied in arrival order: a TRA_LAI given at 09:00 that arrived after the
    DA_DUYET given at 10:00 (a poll and a webhook crossing) returned an approved report. ThoiGian decides."""
    packet, ids = acknowledged_packet(intake.gw)
    ten = datetime.now(VN_TZ).replace(microsecond=0)
    approved = intake.post(signed_status(test_pki, "national", packet, m.ReportStatus.DA_DUYET, at=ten), "G01")
    assert approved.status_code == 202, approved.text
    older = signed_status(test_pki, "national", packet, TRA_LAI, at=ten - timedelta(hours=1), reason="Thiếu biểu 2")
    answer = intake.post(older, "G01")  # taken in (it is genuine), not applied, and the sender is told so
    assert (answer.status_code, answer.json()["result"]) == (202, "stale"), answer.text
    assert states(intake.gw, ids) == {"national": "acknowledged", "ministry": "acknowledged"}
    with intake.gw.sessions() as s:
        national = s.get(Delivery, ids["national"])
        assert national is not None and national.ack_status == "DA_DUYET"
        stale = s.scalars(select(AuditEvent).where(AuditEvent.action == "delivery.stale_status")).one()
        assert (stale.detail["status"], stale.detail["kept"]) == ("TRA_LAI", "DA_DUYET")
    newer = signed_status(test_pki, "national", packet, TRA_LAI, at=ten + timedelta(hours=1), reason="Sai số liệu")
    assert intake.post(newer, "G01").status_code == 202
    assert states(intake.gw, ids) == {"national": "returned", "ministry": "acknowledged"}  # a newer one does
    # Once returned, the province acts next (a correction): a later status is kept and audited, and
    # answered as not applied, where it was answered "applied" and left no trace.
    later = signed_status(test_pki, "national", packet, m.ReportStatus.DA_DUYET, at=ten + timedelta(hours=2))
    answer = intake.post(later, "G01")
    assert (answer.status_code, answer.json()["result"]) == (202, "not_applied"), answer.text
    assert states(intake.gw, ids) == {"national": "returned", "ministry": "acknowledged"}
    with intake.gw.sessions() as s:
        kept = s.scalars(select(AuditEvent).where(AuditEvent.action == "delivery.status_not_applied")).one()
        assert (kept.detail["state"], kept.detail["status"]) == ("returned", "DA_DUYET")


def test_a_status_dated_in_the_future_does_not_outrank_the_ones_after_it(intake: Intake, test_pki: Path) -> None:
    """Ordering by ThoiGian alone would let one status dated 2099 (a skewed clock, or on purpose) hold a
    delivery for ever: a status counts as given no later than we received it."""
    packet, ids = acknowledged_packet(intake.gw)
    later = datetime.now(VN_TZ) + timedelta(days=365)
    assert intake.post(signed_status(test_pki, "national", packet, m.ReportStatus.DA_DUYET, at=later), "G01").is_success
    soon = datetime.now(VN_TZ) + timedelta(minutes=1)
    assert intake.post(signed_status(test_pki, "national", packet, TRA_LAI, at=soon), "G01").status_code == 202
    assert states(intake.gw, ids) == {"national": "returned", "ministry": "acknowledged"}


def test_a_status_of_kpi_data_must_name_the_period_of_its_values(intake: Intake, test_pki: Path) -> None:
    """KPI data carries its period in each value, not in a KyBaoCao of its own; a status naming another
    period was applied to it (found from outside). The period is compared; regime and LanGui are not (a
    KPI body has neither, so a receiver cannot echo them)."""
    from tests.security.support import kpi_packet

    packet, ids = kpi_packet(intake.gw)
    wrong = intake.post(signed_status(test_pki, "national", packet, TRA_LAI, month=3), "G01")
    assert wrong.status_code == 422 and wrong.json()["code"] == "wrong_report", wrong.text
    assert "KyBaoCao is 2026-THANG-3, the packet's is 2026-THANG-1" in wrong.json()["detail"]
    right = intake.post(signed_status(test_pki, "national", packet, TRA_LAI, revision=7), "G01")
    assert (right.status_code, right.json()["result"]) == (202, "applied"), right.text
    assert states(intake.gw, ids) == {"national": "returned", "ministry": "acknowledged"}
