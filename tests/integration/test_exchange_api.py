"""Approval and the regime inbox over the operator API, real loopback HTTP: an approver logs in with
the password grant, reads the held reports with their figures reconciled against the source, and
decides; the preparer, the account that read the data in, an operator and a machine client are
refused with problem+json (audited); a decision on a draft prepared again is a 409; an admin accepts
or declines a regime received, audited with the account."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from pathlib import Path

import httpx
from sqlalchemy import select

from adapters.xlsx_templates import XlsxTemplateReader
from gateway.api.app import create_app
from gateway.calendar.regimes import ApprovalRule, load_regime
from gateway.clock import VN_TZ, FrozenClock
from gateway.db.models import AuditEvent, Delivery, ReportApproval
from gateway.demo import MAPPING, SAMPLE
from gateway.ingest import ingest
from gateway.packets.profile import load_profile
from gateway.scheduler import Scheduler
from gateway.settings import KeySettings, SigningSettings, TrustSettings
from gateway.signing.testpki import party
from gateway.sim.server import BackgroundServer
from mappings.indicators import load_mapping
from tests.conftest import GatewayFactory, national_destination
from tests.support.api import PASSWORD, bearer, client, token, user

EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "qcvn125" / "examples" / "valid"
PROBLEM = "application/problem+json"


def login(url: str, name: str) -> dict[str, str]:
    answer = httpx.post(
        f"{url}/v1/token", data={"grant_type": "password", "username": name, "password": PASSWORD}, timeout=20
    )
    assert answer.status_code == 200, answer.text
    return bearer(answer.json()["access_token"])


def test_approvals_and_the_regime_inbox_through_the_api(
    gateway_factory: GatewayFactory, database_url: str, test_pki: Path
) -> None:
    clock = FrozenClock(datetime.now(VN_TZ))
    gw = gateway_factory(
        database_url=database_url,
        clock=clock,
        destinations={"national": national_destination("http://127.0.0.1:9/unused")},
        signing=SigningSettings(
            keys=[KeySettings(path=test_pki / "signer.p12", passphrase_file=test_pki / "passphrase.txt")]
        ),
        trust=TrustSettings(dir=test_pki / "trust"),
    )
    mapping = load_mapping(MAPPING)
    ingest(gw.sessions, XlsxTemplateReader(SAMPLE), mapping, clock, reporting_unit="H15", actor="user:nhaplieu")
    regime = load_regime("KTXH-THANG").model_copy(
        update={"start": date(2026, 10, 1), "approval": ApprovalRule(required=True, warn_hours=24 * 400)}
    )
    Scheduler(gw, [regime], name="lan").tick()
    for name, role in (
        ("lanhdao", "approver"),
        ("lan", "approver"),
        ("nhaplieu", "approver"),
        ("vanhanh", "operator"),
        ("quantri", "admin"),
    ):
        user(gw, name, role)
    app = create_app(gw)
    machine = token(app, "client", client(gw, "receiver", unit="G01")[0], "receiver")
    doc = json.loads((EXAMPLES / "CHE_DO_BAO_CAO.json").read_text(encoding="utf-8"))
    doc["MaGoiTin"] = str(uuid.uuid4())
    doc["ThoiGianTao"] = datetime.now(VN_TZ).isoformat(timespec="seconds")
    doc["DonViGui"], doc["DonViNhan"] = doc["DonViNhan"], doc["DonViGui"]
    national, _ = party(test_pki, "national", load_profile())
    regime_packet = national.sign(json.dumps(doc, ensure_ascii=False).encode("utf-8"))

    with BackgroundServer(app) as api:
        url = api.url
        leader = login(url, "lanhdao")
        listed = httpx.get(f"{url}/v1/approvals", headers=leader, timeout=20)
        assert listed.status_code == 200, listed.text
        items = listed.json()
        assert [i["form"] for i in items] == ["BM01-KT", "BM02-XH"] and all(i["due_soon"] for i in items)
        first, second = items
        shown = httpx.get(f"{url}/v1/approvals/{first['id']}", headers=leader, timeout=20).json()
        assert shown["reconciliation"]["match"] == first["values"] == len(shown["figures"])
        assert all(f["reported"] == f["source"] and f["source_ref"] for f in shown["figures"])

        def approve(headers: dict[str, str], body: dict[str, str]) -> httpx.Response:
            return httpx.post(f"{url}/v1/approvals/{first['id']}/approve", json=body, headers=headers, timeout=20)

        for refused, why in ((login(url, "lan"), "prepared"), (login(url, "nhaplieu"), "read in the data")):
            answer = approve(refused, {})
            assert answer.status_code == 403 and answer.headers["content-type"] == PROBLEM
            assert why in answer.json()["detail"]
        assert approve(login(url, "vanhanh"), {}).status_code == 403  # an operator: not the approver role
        assert approve(bearer(machine), {}).status_code == 403
        stale = approve(leader, {"packet_id": str(uuid.uuid4())})
        assert stale.status_code == 409 and stale.headers["content-type"] == PROBLEM
        done = approve(leader, {"packet_id": first["packet_id"]})
        assert done.status_code == 200, done.text
        assert done.json()["packet_id"] == first["packet_id"]
        again = approve(leader, {})
        assert again.status_code == 409 and "already approved" in again.json()["detail"]
        short = httpx.post(f"{url}/v1/approvals/{second['id']}/reject", json={"reason": ""}, headers=leader, timeout=20)
        assert short.status_code == 422 and short.headers["content-type"] == PROBLEM
        rejected = httpx.post(
            f"{url}/v1/approvals/{second['id']}/reject",
            json={"reason": "Số liệu xã Bản Xèo chưa khớp"},
            headers=leader,
            timeout=20,
        )
        assert rejected.status_code == 200 and rejected.json()["returned"] is None  # no source configured
        assert httpx.get(f"{url}/v1/approvals", headers=leader, timeout=20).json() == []
        history = httpx.get(f"{url}/v1/approvals", params={"all": "true"}, headers=leader, timeout=20).json()
        assert {(h["state"], h["decided_by"]) for h in history} == {("approved", "lanhdao"), ("rejected", "lanhdao")}
        assert httpx.get(f"{url}/v1/approvals/999999", headers=leader, timeout=20).status_code == 404

        posted = httpx.post(f"{url}/v1/intake/packets", content=regime_packet, headers=bearer(machine), timeout=30)
        assert posted.headers["x-trang-thai"] == "DA_TIEP_NHAN", posted.text
        admin, operator = login(url, "quantri"), login(url, "vanhanh")
        (proposal,) = httpx.get(f"{url}/v1/regimes/inbox", headers=operator, timeout=20).json()
        assert proposal["kind"] == "regime" and proposal["state"] == "open" and proposal["diff"]
        path = f"{url}/v1/regimes/inbox/{proposal['id']}"
        assert httpx.post(f"{path}/accept", headers=operator, timeout=20).status_code == 403  # admins decide
        assert httpx.post(f"{path}/accept", headers=leader, timeout=20).status_code == 403
        accepted = httpx.post(f"{path}/accept", headers=admin, timeout=20)
        assert accepted.status_code == 200, accepted.text
        assert Path(accepted.json()["written"]).is_file()
        declined = httpx.post(f"{path}/decline", json={"reason": "trùng"}, headers=admin, timeout=20)
        assert declined.status_code == 409  # already accepted

    with gw.sessions() as s:
        events = [(e.action, e.actor) for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
        states = {a.id: a.state for a in s.scalars(select(ReportApproval))}
        queued = s.scalars(select(Delivery.packet_id)).all()
    assert states == {first["id"]: "approved", second["id"]: "rejected"}
    assert queued == [first["packet_id"]]
    assert ("report.approved", "approver:lanhdao") in events and ("report.rejected", "approver:lanhdao") in events
    assert ("proposal.accepted", "user:quantri") in events
    denied = [actor for action, actor in events if action == "access.denied"]
    assert "user:vanhanh" in denied and "user:lanhdao" in denied
