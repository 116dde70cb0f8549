"""Signatures end to end over loopback HTTP: we sign what we send, the national simulator verifies it
(and refuses with TU_CHOI when it does not hold), it signs its answers, and we verify those, on the
synchronous answer, on our intake and in the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import select

from gateway.api.app import create_app as create_api
from gateway.db.models import AuditEvent, Delivery, DeliveryAttempt
from gateway.packets import model as m
from gateway.packets.profile import load_profile
from gateway.settings import KeySettings, SigningSettings, TrustSettings
from gateway.signing.testpki import party
from gateway.sim.faults import FaultPlan
from gateway.sim.server import BackgroundServer
from tests.conftest import GatewayFactory, SimFactory, national_destination
from tests.support.api import bearer, client_token
from tests.support.packets import status_packet, store_packets
from tests.support.signing import signer, verifier

PROFILE = load_profile()


def signing_options(pki: Path, key: str = "signer") -> dict[str, object]:
    return {
        "signing": SigningSettings(keys=[KeySettings(path=pki / f"{key}.p12", passphrase_file=pki / "passphrase.txt")]),
        "trust": TrustSettings(dir=pki / "trust"),
    }


def test_signed_packets_are_verified_by_the_receiver_and_its_signed_answers_by_us(
    gateway_factory: GatewayFactory,
    sim_factory: SimFactory,
    database_url: str,
    test_pki: Path,
) -> None:
    sim_signer, sim_verifier = party(test_pki, "national", PROFILE)
    sim = sim_factory(FaultPlan(), signer=sim_signer, verifier=sim_verifier)
    gw = gateway_factory(
        database_url=database_url,
        destinations={"national": national_destination(sim.receive_url)},
        **signing_options(test_pki),
    )
    _, ids = store_packets(gw, 2, fmt="xml")
    service = gw.delivery_service("signing")
    assert [service.attempt(i).outcome for i in ids] == ["acknowledged", "acknowledged"]
    assert sim.stats["signature_refused"] == 0
    for received in sim.app.state.last_packets.values():  # what travelled was signed by our key
        assert verifier(test_pki).verify(received, "on the wire").signer.unit_code == "H15"


def test_receiver_refuses_a_packet_signed_by_an_untrusted_ca_with_tu_choi(
    gateway_factory: GatewayFactory,
    sim_factory: SimFactory,
    database_url: str,
    test_pki: Path,
) -> None:
    _, sim_verifier = party(test_pki, "national", PROFILE)
    sim = sim_factory(FaultPlan(), verifier=sim_verifier)
    gw = gateway_factory(
        database_url=database_url,
        destinations={"national": national_destination(sim.receive_url).model_copy(update={"verify_status": False})},
        signing=signing_options(test_pki, "untrusted")["signing"],
    )
    _, (delivery_id,) = store_packets(gw, 1)
    assert gw.delivery_service("w").attempt(delivery_id).outcome == "rejected"
    with gw.sessions() as s:
        delivery = s.get(Delivery, delivery_id)
        assert delivery.ack_status == "TU_CHOI"
        assert "untrusted" in (delivery.ack_reason or "")
    assert sim.stats["signature_refused"] == 1
    assert sim.stats["unique_packets"] == 0  # a refused packet is not taken in


def test_an_answer_signed_by_an_untrusted_key_is_ignored_and_audited(
    gateway_factory: GatewayFactory,
    sim_factory: SimFactory,
    database_url: str,
    test_pki: Path,
) -> None:
    forger, _ = party(test_pki, "untrusted", PROFILE)
    sim = sim_factory(FaultPlan(), signer=forger)
    gw = gateway_factory(
        database_url=database_url,
        destinations={"national": national_destination(sim.receive_url)},
        **signing_options(test_pki),
    )
    _, (delivery_id,) = store_packets(gw, 1)
    assert gw.delivery_service("w").attempt(delivery_id).outcome == "delivered"  # not acknowledged
    with gw.sessions() as s:
        attempt = s.scalars(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id)).one()
        assert "status packet refused" in (attempt.error or "")
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "signature.rejected")).one()
        assert event.detail["code"] == "untrusted"


def test_intake_accepts_signed_status_packets_and_refuses_unsigned_ones(
    gateway_factory: GatewayFactory,
    sim_factory: SimFactory,
    database_url: str,
    test_pki: Path,
) -> None:
    sim = sim_factory(FaultPlan(ack="async"))
    gw = gateway_factory(
        database_url=database_url,
        destinations={"national": national_destination(sim.receive_url)},
        **signing_options(test_pki),
    )
    packet_ids, (delivery_id,) = store_packets(gw, 1)
    assert gw.delivery_service("w").attempt(delivery_id).outcome == "delivered"
    national, _ = party(test_pki, "national", PROFILE)
    app = create_api(gw)
    auth = bearer(client_token(gw, app, "receiver"))
    with BackgroundServer(app) as api:
        unsigned = status_packet(packet_ids[0], m.ReportStatus.DA_TIEP_NHAN)
        answer = httpx.post(f"{api.url}/v1/intake/status", content=unsigned, headers=auth, timeout=10)
        assert answer.status_code == 422
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["code"] == "unsigned"
        forged = signer(test_pki, "untrusted").sign(status_packet(packet_ids[0], m.ReportStatus.DA_TIEP_NHAN))
        assert (
            httpx.post(f"{api.url}/v1/intake/status", content=forged, headers=auth, timeout=10).json()["code"]
            == "untrusted"
        )
        genuine = national.sign(status_packet(packet_ids[0], m.ReportStatus.DA_TIEP_NHAN))
        answer = httpx.post(f"{api.url}/v1/intake/status", content=genuine, headers=auth, timeout=10)
        assert answer.status_code == 202, answer.text
    with gw.sessions() as s:
        assert s.get(Delivery, delivery_id).state == "acknowledged"
        refusals = s.scalars(select(AuditEvent).where(AuditEvent.action == "signature.rejected")).all()
        assert [e.detail["code"] for e in refusals] == ["unsigned", "untrusted"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], capture_output=True, text=True, timeout=120)


def test_cli_makes_a_test_pki_signs_and_verifies(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    made = run_cli("keys", "test-pki", str(pki))
    assert made.returncode == 0, made.stderr
    for name in (
        "trust/root.pem",
        "trust/intermediate.pem",
        "trust/intermediate.crl",
        "signer.p12",
        "expired.p12",
        "revoked.p12",
        "untrusted.p12",
        "passphrase.txt",
    ):
        assert (pki / name).is_file(), name
    packet = tmp_path / "packet.json"
    packet.write_bytes(status_packet("7d7c1f43-5a8b-4d2e-9c59-1b7f3f0f8a11", m.ReportStatus.DA_TIEP_NHAN))
    signed = tmp_path / "signed.json"
    # G01's key signs a status packet from G01
    done = run_cli(
        "sign",
        str(packet),
        "--key",
        str(pki / "national.p12"),
        "--passphrase-file",
        str(pki / "passphrase.txt"),
        "-o",
        str(signed),
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(signed.read_bytes())["ChuKySo"]["ThuatToan"] == "RS256"
    ok = run_cli("verify", str(signed), "--trust", str(pki / "trust"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "VALID" in ok.stdout
    signed.write_bytes(signed.read_bytes().replace(b"DA_TIEP_NHAN", b"DA_DUYET"))
    bad = run_cli("verify", str(signed), "--trust", str(pki / "trust"))
    assert bad.returncode == 1
    assert "INVALID (tampered)" in bad.stdout
    assert "Traceback" not in bad.stdout + bad.stderr
    wrong = run_cli("sign", str(packet), "--key", str(pki / "national.p12"))  # no passphrase anywhere
    assert wrong.returncode == 2
    assert "GATEWAY_SIGNING_PASSPHRASE" in wrong.stderr
