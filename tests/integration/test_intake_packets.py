"""``POST /v1/intake/packets`` over real HTTP: a packet of any type from a receiver client, signed by
the national system's key, is verified, bound to one unit, deduplicated on MaGoiTin, stored with its
raw bytes, audited, routed through the outbox to the provincial system (a simulator on loopback,
which validates it), and answered with our signed TRANG_THAI_BAO_CAO; regimes, forms and outlines
land in the regime inbox, where an admin accepts or declines them."""

from __future__ import annotations

import copy
import gc
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gateway import regimes_inbox
from gateway.api.app import create_app
from gateway.bootstrap import Gateway
from gateway.calendar import default_calendar
from gateway.clock import VN_TZ, as_utc
from gateway.db.models import AuditEvent, Delivery, InboundPacket, RegimeProposal
from gateway.packets import model as m
from gateway.packets.profile import load_profile
from gateway.packets.validate import read_packet
from gateway.settings import KeySettings, SigningSettings, TrustSettings, UnitSettings
from gateway.signing.packets import PacketSigner
from gateway.signing.testpki import party
from gateway.sim.faults import FaultPlan
from gateway.sim.server import BackgroundServer
from tests.conftest import GatewayFactory, SimFactory, national_destination
from tests.support.api import bearer, client, token
from tests.support.signing import verifier

PROFILE = load_profile()
EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "qcvn125" / "examples" / "valid"
PROVINCE = UnitSettings(code="H15-HT", name="Hệ thống thông tin báo cáo tỉnh Lào Cai")


def hand_written(kind: str) -> dict[str, Any]:
    """An example packet of ``kind`` turned around: the national system (G01) sends it to us (H15)."""
    doc = json.loads((EXAMPLES / f"{kind}.json").read_text(encoding="utf-8"))
    doc["MaGoiTin"] = str(uuid.uuid4())
    doc["ThoiGianTao"] = datetime.now(VN_TZ).isoformat(timespec="seconds")
    doc["DonViGui"] = {"MaDinhDanh": "G01", "Ten": "Hệ thống thông tin báo cáo Chính phủ"}
    doc["DonViNhan"] = {"MaDinhDanh": "H15", "Ten": "Ủy ban nhân dân tỉnh Lào Cai"}
    return doc


@dataclass
class Intake:
    gw: Gateway
    url: str
    national: PacketSigner
    ministry: PacketSigner
    tokens: dict[str, str]
    province: Any

    def post(self, data: bytes, who: str = "national", fmt: str = "json") -> httpx.Response:
        return httpx.post(
            f"{self.url}/v1/intake/packets",
            content=data,
            headers={**bearer(self.tokens[who]), "content-type": f"application/{fmt}"},
            timeout=30,
        )

    def signed(self, doc: dict[str, Any], by: str = "national") -> bytes:
        raw = json.dumps(doc, ensure_ascii=False).encode("utf-8")
        return (self.national if by == "national" else self.ministry).sign(raw)


@pytest.fixture
def intake(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str, test_pki: Path
) -> Iterator[Intake]:
    national, _ = party(test_pki, "national", PROFILE)
    ministry, _ = party(test_pki, "ministry", PROFILE)
    province = sim_factory(FaultPlan(), unit=m.Unit(code=PROVINCE.code, name=PROVINCE.name), name="province")
    local = national_destination(province.receive_url).model_copy(
        update={"receiver": PROVINCE, "verify_status": False}  # the provincial system does not sign its answers
    )
    gw = gateway_factory(
        database_url=database_url,
        destinations={"national": national_destination("http://127.0.0.1:9/unused"), "province": local},
        signing=SigningSettings(
            keys=[KeySettings(path=test_pki / "signer.p12", passphrase_file=test_pki / "passphrase.txt")]
        ),
        trust=TrustSettings(dir=test_pki / "trust"),
        inbound={"routes": {"*": ["province"]}},
    )
    app = create_app(gw)
    tokens = {
        "national": token(app, "client", client(gw, "receiver", unit="G01")[0], "receiver"),
        "ministry": token(app, "client", client(gw, "receiver", unit="B05")[0], "receiver"),
    }
    with BackgroundServer(app) as server:
        yield Intake(gw, server.url, national, ministry, tokens, province)


def answer_of(response: httpx.Response, test_pki: Path) -> m.StatusReport:
    assert response.status_code == 200, response.text
    assert verifier(test_pki).verify(response.content, "answer").signer.unit_code == "H15"  # signed by us
    body = read_packet(response.content, source="answer").body
    assert isinstance(body, m.StatusReport)
    return body


def test_a_signed_regime_is_taken_in_routed_and_proposed(intake: Intake, test_pki: Path) -> None:
    doc = hand_written("CHE_DO_BAO_CAO")
    data = intake.signed(doc)
    first = intake.post(data)
    status = answer_of(first, test_pki)
    assert status.status is m.ReportStatus.DA_TIEP_NHAN and str(status.original_packet_id) == doc["MaGoiTin"]
    assert first.headers["x-duplicate"] == "false"

    again = intake.post(data)  # the same id and bytes: the very same answer
    assert again.status_code == 200 and again.content == first.content and again.headers["x-duplicate"] == "true"
    other = copy.deepcopy(doc)
    other["NoiDung"]["TenCheDo"] += " (sửa)"
    conflict = intake.post(intake.signed(other))
    assert conflict.status_code == 409 and conflict.headers["content-type"] == "application/problem+json"

    gw = intake.gw
    with gw.sessions() as s:
        stored = s.get(InboundPacket, doc["MaGoiTin"])
        assert stored is not None and stored.payload == data and stored.state == "accepted"
        assert stored.routed_to == ["province"] and stored.answer == first.content
        (delivery,) = s.scalars(select(Delivery).where(Delivery.packet_id == doc["MaGoiTin"]))
        proposal = s.scalars(select(RegimeProposal).where(RegimeProposal.inbound_packet_id == doc["MaGoiTin"])).one()
        actions = {e.action for e in s.scalars(select(AuditEvent))}
    assert {"inbound.accepted", "proposal.created"} <= actions
    # Routed through the outbox to the provincial system, with the sender's signature intact.
    assert gw.delivery_service("t").attempt(delivery.id).outcome == "acknowledged"
    assert intake.province.app.state.last_packets.get(doc["MaGoiTin"]) == data

    received = as_utc(stored.received_at).astimezone(VN_TZ).date()  # the day of receipt in Vietnam
    assert proposal.due_on == default_calendar().add_working_days(received, 3)
    assert proposal.kind == "regime" and proposal.code == "KTXH-THANG"
    assert "mappings/regimes/KTXH-THANG.yaml" in proposal.diff and "09/2019/NĐ-CP" in proposal.draft
    listed = regimes_inbox.inbox(gw)
    assert [(p.id, p.code, p.due_on) for p in listed] == [(proposal.id, "KTXH-THANG", proposal.due_on)]
    regimes_inbox.decline(gw, proposal.id, actor="user:admin", reason="đã có chế độ này")
    assert regimes_inbox.inbox(gw) == []


def test_refusals_are_answered_with_tu_choi_and_located_reasons(intake: Intake, test_pki: Path) -> None:
    bad = hand_written("SO_LIEU_BAO_CAO")
    bad["NoiDung"]["LanGui"] = 0
    bad["NoiDung"]["Bogus"] = "x"
    refused = answer_of(intake.post(intake.signed(bad)), test_pki)
    assert refused.status is m.ReportStatus.TU_CHOI
    locations = {d.location for d in refused.error_details}
    assert "/NoiDung/LanGui" in locations and any("Bogus" in d.description for d in refused.error_details)

    # Every LoiChiTiet is located in the packet, by the field that broke it: ViTri was "packet from
    # api:…" (a name the sender cannot look up) for every refusal that was not a schema or rule error.
    forged = hand_written("BIEU_MAU_BAO_CAO")  # says G01, signed with the ministry's key
    status = answer_of(intake.post(intake.signed(forged, by="ministry")), test_pki)
    assert status.status is m.ReportStatus.TU_CHOI and "B05" in (status.reason or "")
    assert [d.location for d in status.error_details] == ["/DonViGui/MaDinhDanh"]

    posted_by_other = hand_written("BIEU_MAU_BAO_CAO")  # signed by G01, posted by the client bound to B05
    status = answer_of(intake.post(intake.signed(posted_by_other), who="ministry"), test_pki)
    assert status.status is m.ReportStatus.TU_CHOI and "B05" in (status.reason or "")
    assert [d.location for d in status.error_details] == ["/DonViGui/MaDinhDanh"]

    unsigned = hand_written("DANH_MUC_PHAN_TO")
    status = answer_of(intake.post(json.dumps(unsigned, ensure_ascii=False).encode()), test_pki)
    assert status.status is m.ReportStatus.TU_CHOI
    assert [d.location for d in status.error_details] == ["/ChuKySo"]

    elsewhere = hand_written("DANH_MUC_PHAN_TO")
    elsewhere["DonViNhan"] = {"MaDinhDanh": "H99", "Ten": "Tỉnh khác"}
    status = answer_of(intake.post(intake.signed(elsewhere)), test_pki)
    assert status.status is m.ReportStatus.TU_CHOI and "H99" in (status.reason or "")
    assert [d.location for d in status.error_details] == ["/DonViNhan/MaDinhDanh"]

    no_id = intake.post(b'{"LoaiGoiTin": "BO_CHI_SO"}')
    assert no_id.status_code == 400 and "MaGoiTin" in no_id.json()["detail"]
    with intake.gw.sessions() as s:
        states = [r.state for r in s.scalars(select(InboundPacket))]
        deliveries = s.scalars(select(Delivery)).all()
    assert states == ["refused"] * 5 and deliveries == []  # nothing refused is routed


def test_deep_nesting_posted_to_the_intake_is_refused_as_such(intake: Intake, test_pki: Path) -> None:
    """The intake's peek parses without the depth walk (issue 19); the verifier and the reader bound
    the depth before anything walks the document, so a 200-deep member is still named as such: in
    a signed packet (outside what was signed, and inside it), and a 10,000-deep one is
    refused at the parse, before anything is stored."""
    doc = hand_written("SO_LIEU_BAO_CAO")
    signed = intake.signed(doc)
    deep = b'{"X":' + b"[" * 200 + b"]" * 200 + b"," + signed.lstrip()[1:]
    status = answer_of(intake.post(deep), test_pki)
    assert status.status is m.ReportStatus.TU_CHOI and "nested deeper than 64" in (status.reason or "")
    inside = hand_written("SO_LIEU_BAO_CAO")
    inside["NoiDung"]["X"] = json.loads("[" * 200 + "]" * 200)
    status = answer_of(intake.post(intake.signed(inside)), test_pki)  # signed with it: the reader names it
    assert status.status is m.ReportStatus.TU_CHOI and "nested deeper than 64" in (status.reason or "")
    bomb = intake.post(b'{"MaGoiTin":' + b"[" * 10_000 + b"]" * 10_000 + b"}")
    assert bomb.status_code == 400 and "nested deeper" in bomb.json()["detail"]
    with intake.gw.sessions() as s:
        assert [r.state for r in s.scalars(select(InboundPacket))] == ["refused", "refused"]


def test_an_accepted_outline_becomes_a_file_and_a_declined_one_does_not(intake: Intake, test_pki: Path) -> None:
    doc = hand_written("BIEU_MAU_DE_CUONG")
    code = f"DC-TEST-{uuid.uuid4().hex[:6].upper()}"
    doc["NoiDung"]["MaDeCuong"] = code
    assert answer_of(intake.post(intake.signed(doc)), test_pki).status is m.ReportStatus.DA_TIEP_NHAN
    (item,) = regimes_inbox.inbox(intake.gw)
    target = Path(item.target)
    assert not target.exists() and item.diff.startswith("--- /dev/null")
    assert target.parent == intake.gw.settings.data_dir / "outlines"  # the operator's folder, not the shipped one
    regimes_inbox.accept(intake.gw, item.id, actor="user:admin")
    written = target.read_text(encoding="utf-8")
    assert "TieuDe" not in written and "title: Tình hình kinh tế - xã hội" in written
    from gateway.reports.narrative import load_outline

    assert [s.code for s in load_outline(code, target.parent).sections] == ["I", "II"]
    with pytest.raises(Exception, match="already accepted"):
        regimes_inbox.decline(intake.gw, item.id, actor="user:admin", reason="late")


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_received_packet_is_parsed_once(intake: Intake, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    """Issue 19: the intake peeked into the packet (a hardened parse), then verified it (a second)
    and read it (a third); the peek's parse is now the one verified and read. Counts real parser
    calls; each still parses."""
    from gateway.inbound import InboundService
    from gateway.packets import safe
    from gateway.packets.convert import convert

    doc = hand_written("CHE_DO_BAO_CAO")
    raw = json.dumps(doc, ensure_ascii=False).encode("utf-8")
    unsigned = raw if fmt == "json" else convert(raw, "xml", source="test", profile=PROFILE).payload
    data = intake.national.sign(unsigned)
    calls = {"json": 0, "xml": 0}
    real_json, real_xml = safe.parse_json, safe.parse_xml

    def parse_json(*args: Any, **kwargs: Any) -> Any:
        calls["json"] += 1
        return real_json(*args, **kwargs)

    def parse_xml(*args: Any, **kwargs: Any) -> Any:
        calls["xml"] += 1
        return real_xml(*args, **kwargs)

    monkeypatch.setattr(safe, "parse_json", parse_json)
    monkeypatch.setattr(safe, "parse_xml", parse_xml)
    answer = InboundService(intake.gw).receive(data, channel="test", client="national", client_unit="G01")
    monkeypatch.undo()
    assert answer.status is m.ReportStatus.DA_TIEP_NHAN, answer.payload[:2000]
    # JSON was 3: peek, the verifier, read_packet. XML was 6: those three, the signer re-reading our
    # signed answer (now written in its C14N form, nothing to re-read) and two in the routing, which
    # converts the packet for the provincial destination (a JSON one; ``packets.convert``, left as is).
    assert calls[fmt] == (1 if fmt == "json" else 1 + 2), calls


def test_the_intake_reads_the_peeked_parse_inside_one_collector_pause(
    intake: Intake, test_pki: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parse made to address the answer is the one the packet is read and verified from, and no
    collector pass walks it in between (issue 19): ``Inbound.read`` runs with the collector off."""
    gw = intake.gw
    real_read = gw.inbound.read
    seen: list[tuple[bool, bool]] = []

    def read(*args: Any, **kwargs: Any) -> Any:
        seen.append((gc.isenabled(), kwargs.get("parsed") is not None))
        return real_read(*args, **kwargs)

    monkeypatch.setattr(gw.inbound, "read", read)
    doc = hand_written("SO_LIEU_BAO_CAO")
    status = answer_of(intake.post(intake.signed(doc)), test_pki)
    assert status.status is m.ReportStatus.DA_TIEP_NHAN
    assert seen == [(False, True)]  # read once, from the peeked parse, with the collector paused
    assert gc.isenabled()
