"""Issue 18 item 7: the signing time a packet claims is whatever its signer wrote.

Without a trusted timestamp a signature is validated at the time of verification: a key revoked or
expired *now* is refused whatever date the packet claims (the issue's example: a revoked key's
signature over a packet claiming an October date verified as VALID). Probed through ``gateway verify``
as a process and through both intake routes over real loopback HTTP, with the test PKI's real keys
and a CRL the test CA really publishes; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from gateway.api.app import create_app
from gateway.clock import VN_TZ
from gateway.errors import SignatureInvalid
from gateway.packets import model as m
from gateway.packets.validate import write_packet
from gateway.signing.testpki import make_test_pki, revoke
from gateway.sim.server import BackgroundServer
from tests.conftest import GatewayFactory
from tests.security.support import acknowledged_packet, receiver_token, signed_gateway, states, status_bytes
from tests.support.api import bearer
from tests.support.packets import report_packet
from tests.support.signing import key, sign_raw, signer, verifier

GATEWAY = str(Path(sys.executable).parent / "gateway")
OCTOBER = datetime(2026, 10, 15, 9, 30, tzinfo=VN_TZ)


def dated(data: bytes, when: datetime) -> bytes:
    """The same JSON packet claiming ``when`` as its creation (and so signing) time."""
    doc = json.loads(data)
    doc["ThoiGianTao"] = when.isoformat(timespec="seconds")
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def cli_verify(path: Path, pki: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GATEWAY, "verify", str(path), "--trust", str(pki / "trust"), *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PKI of this module's own: the national key gets revoked here (the CA publishes a new CRL)."""
    return make_test_pki(tmp_path_factory.mktemp("pki-time"))


def test_a_back_dated_signature_of_a_revoked_key_is_invalid_in_gateway_verify(pki: Path, tmp_path: Path) -> None:
    """The issue's example: revoked.p12 (revoked an hour ago) signs a packet that claims October."""
    packet = tmp_path / "october.json"
    packet.write_bytes(signer(pki, "revoked").sign(dated(write_packet(report_packet(), "json"), OCTOBER)))
    done = cli_verify(packet, pki, "--max-age-days", "0")  # no age limit: only the revocation can refuse it
    assert done.returncode == 1, done.stdout + done.stderr
    assert "INVALID (revoked)" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_gateway_verify_has_an_age_limit_by_default(pki: Path, tmp_path: Path) -> None:
    """A 60-day-old signature by a good key: refused by default, accepted for an archive with 0."""
    old = datetime.now(UTC) - timedelta(days=60)
    packet = tmp_path / "old.json"
    packet.write_bytes(signer(pki).sign(dated(write_packet(report_packet(), "json"), old)))
    default = cli_verify(packet, pki)
    assert default.returncode == 1 and "INVALID (too_old)" in default.stdout, default.stdout + default.stderr
    archive = cli_verify(packet, pki, "--max-age-days", "0")
    assert archive.returncode == 0 and "VALID" in archive.stdout, archive.stdout + archive.stderr


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_key_expired_yesterday_cannot_sign_the_day_before(pki: Path, fmt: str) -> None:
    """expired.p12's certificate ended yesterday; the packet claims two days ago, when it was valid."""
    before = report_packet().model_copy(update={"created_at": datetime.now(UTC) - timedelta(days=2)})
    signed = sign_raw(write_packet(before, fmt), key(pki, "expired"))  # type: ignore[arg-type]
    with pytest.raises(SignatureInvalid) as caught:
        verifier(pki).verify(signed, "packet")
    assert caught.value.code == "expired"


def test_back_dated_statuses_of_a_key_revoked_since_are_refused_on_both_intakes(
    gateway_factory: GatewayFactory, database_url: str, tmp_path: Path
) -> None:
    """G01's key is compromised and revoked; its holder signs a TRA_LAI (status intake) and another
    packet (packet intake) claiming three days ago. Before, both were accepted (validated at the
    claimed time, before the revocation)."""
    pki = tmp_path / "pki"
    shutil.copytree(make_test_pki(tmp_path / "fresh"), pki)
    gw = signed_gateway(gateway_factory, database_url, pki)
    packet, ids = acknowledged_packet(gw)
    three_days_ago = datetime.now(VN_TZ) - timedelta(days=3)
    status = signer(pki, "national").sign(dated(status_bytes(packet, m.ReportStatus.TRA_LAI), three_days_ago))
    regime = json.loads(status_bytes(packet, m.ReportStatus.DA_TIEP_NHAN))
    regime["MaGoiTin"] = str(uuid.uuid4())
    other = signer(pki, "national").sign(dated(json.dumps(regime, ensure_ascii=False).encode(), three_days_ago))
    revoke(pki, "national")
    app = create_app(gw)
    with BackgroundServer(app) as server:
        auth = bearer(receiver_token(gw, app, "G01"))
        answer = httpx.post(f"{server.url}/v1/intake/status", content=status, headers=auth, timeout=30)
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == "revoked"
        second = httpx.post(
            f"{server.url}/v1/intake/packets",
            content=other,
            headers={**auth, "content-type": "application/json"},
            timeout=30,
        )
        # The packet intake answers every packet with our signed TRANG_THAI_BAO_CAO: here a refusal.
        assert second.status_code == 200, second.text
        answer_body = second.json()["NoiDung"]
        assert answer_body["TrangThai"] == "TU_CHOI" and "revoked" in answer_body["LyDo"], answer_body
    assert states(gw, ids) == {"national": "acknowledged", "ministry": "acknowledged"}
