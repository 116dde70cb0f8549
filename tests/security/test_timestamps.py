"""Issue 18 item 7: RFC 3161 timestamps, so a signature's time is a third party's word, not the signer's.

Real parts only: the test PKI's TSA certificate (extendedKeyUsage timeStamping, critical), a TSA on
loopback (``gateway/sim/tsa.py``) answering real HTTP, the sealing path of the gateway, and OpenSSL as
the independent implementation on both sides: ``openssl ts -verify`` checks the tokens our TSA issues
for our sealed packets, and ``openssl ts -reply`` issues a token our verifier accepts."""

from __future__ import annotations

import base64
import json
import logging
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, Encoding, PrivateFormat
from lxml import etree
from sqlalchemy import create_engine, func, select

from adapters.xlsx_templates import XlsxTemplateReader
from gateway import audit, metrics
from gateway.audit import checkpoints
from gateway.calendar.regimes import load_regime
from gateway.clock import VN_TZ, FrozenClock
from gateway.db.models import Packet, ScheduledRun
from gateway.demo import MAPPING, SAMPLE
from gateway.errors import SignatureInvalid, TimestampUnavailable
from gateway.ingest import ingest
from gateway.packets.validate import read_packet, write_packet
from gateway.scheduler import Scheduler
from gateway.settings import KeySettings, SigningSettings, TrustSettings
from gateway.signing import xmldsig
from gateway.signing.keys import load_key
from gateway.signing.packets import PacketVerifier, add_timestamp
from gateway.signing.testpki import make_test_pki, revoke
from gateway.signing.timestamps import TS_NS, TsaClient
from gateway.signing.trust import TrustStore
from gateway.sim.server import BackgroundServer
from gateway.sim.tsa import TsaSim, tsa_app
from mappings.indicators import load_mapping
from tests.conftest import GatewayFactory, national_destination
from tests.security.support import signed_gateway
from tests.support.packets import report_packet
from tests.support.signing import PROFILE, key, read_passphrase, sign_raw, signer, verifier

DS = xmldsig.DS
GATEWAY = str(Path(sys.executable).parent / "gateway")


class Tsa:
    def __init__(self, pki: Path) -> None:
        app, self.sim = tsa_app(pki)
        self.server = BackgroundServer(app).start()
        self.url = self.server.url + "/"
        self.client = TsaClient(self.url, timeout=10)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_test_pki(tmp_path_factory.mktemp("pki-tsa"))


@pytest.fixture(scope="module")
def tsa(pki: Path) -> Iterator[Tsa]:
    box = Tsa(pki)
    yield box
    box.server.stop()


def token_and_value(stamped: bytes) -> tuple[bytes, bytes]:
    """The DER token and the signature value octets it should cover, read by hand from the packet."""
    if stamped.lstrip().startswith(b"{"):
        sig = json.loads(stamped)["ChuKySo"]
        return base64.b64decode(sig["DauThoiGian"]), base64.b64decode(sig["GiaTri"])
    root = etree.fromstring(stamped)
    token = root.findtext(f"{{{DS}}}Signature/{{{DS}}}Object/{{{TS_NS}}}DauThoiGian")
    value = root.findtext(f"{{{DS}}}Signature/{{{DS}}}SignatureValue")
    assert token and value
    return base64.b64decode(token), base64.b64decode("".join(value.split()))


def openssl_verify(pki: Path, token: bytes, value: bytes, tmp: Path) -> subprocess.CompletedProcess[str]:
    (tmp / "token.der").write_bytes(token)
    (tmp / "value.bin").write_bytes(value)
    return subprocess.run(
        ["openssl", "ts", "-verify", "-token_in", "-in", str(tmp / "token.der"), "-data", str(tmp / "value.bin"),
         "-CAfile", str(pki / "tsa-chain.pem")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


# ---------------------------------------------------------------- tokens on sealed packets
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_sealed_packet_carries_a_token_that_openssl_and_our_verifier_accept(
    pki: Path, tsa: Tsa, tmp_path: Path, fmt: str
) -> None:
    packet = report_packet()
    stamped = add_timestamp(signer(pki).sign(write_packet(packet, fmt)), tsa.client, PROFILE)  # type: ignore[arg-type]
    token, value = token_and_value(stamped)
    checked = openssl_verify(pki, token, value, tmp_path)
    assert checked.returncode == 0 and "Verification: OK" in checked.stdout, checked.stdout + checked.stderr
    verified = verifier(pki).verify(stamped, "stamped")
    assert verified.stamp is not None and "Time-Stamping Authority" in verified.stamp.tsa
    assert abs(verified.stamp.time - datetime.now(UTC)) < timedelta(minutes=2)
    assert verified.signed_at == verified.stamp.time
    # the token is outside what was signed: the packet still reads, and validates, as before
    assert read_packet(stamped, source="stamped").packet_id == packet.packet_id
    if fmt == "xml":  # still in the C14N form the signer wrote, token included (issue 19): a verifier
        # finds the digested octets as they are instead of canonicalising the packet
        body = stamped.split(b"\n", 1)[1]
        assert body == etree.tostring(etree.fromstring(stamped), method="c14n", exclusive=True)
    (tmp_path / f"stamped.{fmt}").write_bytes(stamped)
    shown = subprocess.run(
        [GATEWAY, "verify", str(tmp_path / f"stamped.{fmt}"), "--trust", str(pki / "trust")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0 and "timestamped at" in shown.stdout, shown.stdout + shown.stderr
    assert "Time-Stamping Authority" in shown.stdout


def test_a_token_from_openssl_ts_reply_is_accepted(pki: Path, tmp_path: Path) -> None:
    """The other direction: OpenSSL's TSA (``openssl ts -reply``) stamps our signature value."""
    signed = signer(pki).sign(write_packet(report_packet(), "json"))
    value = base64.b64decode(json.loads(signed)["ChuKySo"]["GiaTri"])
    tsa_key = key(pki, "tsa")
    passphrase = read_passphrase(file=pki / "passphrase.txt")
    assert passphrase is not None
    (tmp_path / "tsa.key").write_bytes(
        tsa_key.private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(passphrase))
    )
    (tmp_path / "tsa.crt").write_bytes(tsa_key.certificate.public_bytes(Encoding.PEM))
    (tmp_path / "value.bin").write_bytes(value)
    (tmp_path / "serial").write_text("01\n")
    (tmp_path / "ts.cnf").write_text(
        "[ tsa ]\ndefault_tsa = tsa1\n[ tsa1 ]\n"
        f"dir = {tmp_path}\nserial = $dir/serial\ncrypto_device = builtin\n"
        "default_policy = 1.3.6.1.4.1.99999.1\ndigests = sha256\nsigner_digest = sha256\n"
        "accuracy = secs:1\nordering = no\ntsa_name = yes\ness_cert_id_chain = no\ness_cert_id_alg = sha256\n"
    )
    def openssl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60, cwd=tmp_path)

    query = openssl("ts", "-query", "-data", "value.bin", "-sha256", "-cert", "-out", "q.tsq")
    assert query.returncode == 0, query.stderr
    reply = openssl(
        "ts", "-reply", "-config", "ts.cnf", "-queryfile", "q.tsq", "-signer", "tsa.crt", "-inkey", "tsa.key",
        "-passin", f"file:{pki / 'passphrase.txt'}", "-token_out", "-out", "token.der",
    )  # fmt: skip
    assert reply.returncode == 0, reply.stderr
    token = (tmp_path / "token.der").read_bytes()
    doc = json.loads(signed)
    doc["ChuKySo"]["DauThoiGian"] = base64.b64encode(token).decode()
    stamped = json.dumps(doc, ensure_ascii=False).encode()
    verified = verifier(pki).verify(stamped, "openssl-stamped")
    assert verified.stamp is not None and "Time-Stamping Authority" in verified.stamp.tsa


# ---------------------------------------------------------------- the token's time is the one used
def test_the_token_time_keeps_a_signature_made_before_revocation_valid_and_only_then(
    tmp_path: Path,
) -> None:
    """Signed and stamped three hours ago; the key revoked an hour ago (key compromise). With the
    token the signature provably predates the revocation; without it, it is refused (validated now)."""
    pki = make_test_pki(tmp_path / "pki")
    app, _ = tsa_app(pki, TsaSim(at=datetime.now(UTC) - timedelta(hours=3)))
    with BackgroundServer(app) as server:
        signed = signer(pki).sign(write_packet(report_packet(), "json"))
        stamped = add_timestamp(signed, TsaClient(server.url + "/"), PROFILE)
    revoke(pki, "signer")
    assert verifier(pki).verify(stamped, "stamped").signer.unit_code == "H15"
    with pytest.raises(SignatureInvalid) as caught:
        verifier(pki).verify(signed, "unstamped")
    assert caught.value.code == "revoked"


def test_the_token_time_lets_an_expired_key_verify_what_it_signed_in_time(pki: Path) -> None:
    """expired.p12 ended yesterday; a token from two days ago proves it signed while valid."""
    app, _ = tsa_app(pki, TsaSim(at=datetime.now(UTC) - timedelta(days=2)))
    packet = report_packet().model_copy(update={"created_at": datetime.now(UTC) - timedelta(days=2)})
    signed = sign_raw(write_packet(packet, "xml"), key(pki, "expired"))
    with BackgroundServer(app) as server:
        stamped = add_timestamp(signed, TsaClient(server.url + "/"), PROFILE)
    assert verifier(pki).verify(stamped, "stamped").stamp is not None
    with pytest.raises(SignatureInvalid) as caught:
        verifier(pki).verify(signed, "unstamped")
    assert caught.value.code == "expired"


def test_a_token_claiming_a_time_after_revocation_does_not_help(pki: Path, tsa: Tsa, tmp_path: Path) -> None:
    """revoked.p12 (revoked an hour ago) signs now; a genuine token says "now": still revoked."""
    other = tmp_path / "pki"
    shutil.copytree(pki, other)
    stamped = add_timestamp(signer(other, "revoked").sign(write_packet(report_packet(), "json")), tsa.client, PROFILE)
    with pytest.raises(SignatureInvalid) as caught:
        verifier(other).verify(stamped, "stamped")
    assert caught.value.code == "revoked"


# ---------------------------------------------------------------- tokens that must not be believed
def test_a_token_moved_from_another_packet_is_refused(pki: Path, tsa: Tsa) -> None:
    first = add_timestamp(signer(pki).sign(write_packet(report_packet(values=3), "json")), tsa.client, PROFILE)
    second = json.loads(signer(pki).sign(write_packet(report_packet(values=4), "json")))
    second["ChuKySo"]["DauThoiGian"] = json.loads(first)["ChuKySo"]["DauThoiGian"]
    with pytest.raises(SignatureInvalid) as caught:
        verifier(pki).verify(json.dumps(second, ensure_ascii=False).encode(), "moved")
    assert caught.value.code == "timestamp_invalid"


def test_a_token_from_an_authority_outside_the_trust_directory_is_refused(pki: Path, tmp_path: Path) -> None:
    stranger = make_test_pki(tmp_path / "stranger")
    app, _ = tsa_app(stranger)
    with BackgroundServer(app) as server:
        unstamped = signer(pki).sign(write_packet(report_packet(), "json"))
        stamped = add_timestamp(unstamped, TsaClient(server.url + "/"), PROFILE)
    with pytest.raises(SignatureInvalid) as caught:
        verifier(pki).verify(stamped, "stranger")
    assert caught.value.code == "timestamp_untrusted"


def test_a_token_signed_by_a_certificate_without_the_time_stamping_usage_is_refused(pki: Path, tmp_path: Path) -> None:
    """The province's own signing key poses as a TSA: it chains to the trusted root, but it is no TSA."""
    posing = tmp_path / "posing"
    shutil.copytree(pki, posing)
    shutil.copy(pki / "signer.p12", posing / "tsa.p12")
    app, _ = tsa_app(posing)
    with BackgroundServer(app) as server:
        unstamped = signer(pki).sign(write_packet(report_packet(), "json"))
        stamped = add_timestamp(unstamped, TsaClient(server.url + "/"), PROFILE)
    with pytest.raises(SignatureInvalid) as caught:
        verifier(pki).verify(stamped, "posing")
    assert caught.value.code == "timestamp_untrusted"


def test_garbage_in_place_of_a_token_is_refused_not_ignored(pki: Path) -> None:
    doc = json.loads(signer(pki).sign(write_packet(report_packet(), "json")))
    doc["ChuKySo"]["DauThoiGian"] = base64.b64encode(b"not a token").decode()
    with pytest.raises(SignatureInvalid) as caught:
        verifier(pki).verify(json.dumps(doc).encode(), "garbage")
    assert caught.value.code == "timestamp_invalid"


# ---------------------------------------------------------------- a TSA outage loses nothing
REGIME = load_regime("KTXH-THANG")
MARCH = datetime(2026, 3, 1, 9, tzinfo=VN_TZ)


def stamped_gateway(gateway_factory: GatewayFactory, database_url: str, pki: Path, url: str, mode: str) -> object:
    gw = gateway_factory(
        database_url=database_url,
        clock=FrozenClock(MARCH),
        destinations={"national": national_destination("http://127.0.0.1:9/unused")},
        signing=SigningSettings(keys=[KeySettings(path=pki / "signer.p12", passphrase_file=pki / "passphrase.txt")]),
        trust=TrustSettings(dir=pki / "trust"),
        timestamps={"url": url, "mode": mode, "timeout": 5},
    )
    ingest(gw.sessions, XlsxTemplateReader(SAMPLE), load_mapping(MAPPING), gw.clock, reporting_unit="H15")
    return gw


def counted(outcome: str) -> float:
    return metrics.TIMESTAMPS.labels(outcome=outcome)._value.get()  # type: ignore[no-any-return]


def test_a_tsa_outage_seals_nothing_and_the_next_tick_stamps_everything(
    gateway_factory: GatewayFactory, database_url: str, tmp_path: Path
) -> None:
    """timestamps.mode = required: while the TSA answers 503 the scheduler's runs are not recorded
    (nothing half-made), the failure is logged and counted; when it answers, the next tick builds every
    report, each with a token our verifier accepts."""
    pki = make_test_pki(tmp_path / "pki", now=MARCH)
    app, sim = tsa_app(pki, TsaSim(fail_with=503, at=MARCH))
    with BackgroundServer(app) as server:
        gw = stamped_gateway(gateway_factory, database_url, pki, server.url + "/", "required")
        scheduler = Scheduler(gw, [REGIME], name="s")  # type: ignore[arg-type]
        failed = counted("failed")
        with pytest.raises(TimestampUnavailable, match="HTTP 503"):
            scheduler.tick()
        assert counted("failed") == failed + 1
        with gw.sessions() as s:  # type: ignore[attr-defined]
            assert s.scalar(select(func.count()).select_from(ScheduledRun)) == 0
            assert s.scalar(select(func.count()).select_from(Packet)) == 0
        sim.fail_with = None
        assert len(scheduler.tick()) == 2
        with gw.sessions() as s:  # type: ignore[attr-defined]
            payloads = [p.payload for p in s.scalars(select(Packet))]
    assert len(payloads) == 6
    check = PacketVerifier(PROFILE, TrustStore(pki / "trust"), clock=FrozenClock(MARCH), max_age=None)
    for payload in payloads:
        assert check.verify(payload, "outbox").stamp is not None


def test_best_effort_seals_without_a_token_and_says_so(
    gateway_factory: GatewayFactory, database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pki = make_test_pki(tmp_path / "pki", now=MARCH)
    gw = stamped_gateway(gateway_factory, database_url, pki, "http://127.0.0.1:9/", "best_effort")  # nothing listens
    skipped = counted("skipped")
    with caplog.at_level(logging.WARNING, logger="gateway.signing.seal"):
        assert len(Scheduler(gw, [REGIME], name="s").tick()) == 2  # type: ignore[arg-type]
    assert counted("skipped") == skipped + 6
    assert sum("WITHOUT a timestamp" in r.getMessage() for r in caplog.records) == 6
    with gw.sessions() as s:  # type: ignore[attr-defined]
        payloads = [p.payload for p in s.scalars(select(Packet))]
    assert payloads and all(b"DauThoiGian" not in p for p in payloads)


# ---------------------------------------------------------------- audit checkpoints
def test_audit_checkpoints_are_timestamped_and_audit_verify_checks_the_token(
    gateway_factory: GatewayFactory, database_url: str, tmp_path: Path
) -> None:
    """With a TSA configured, every checkpoint carries a token over its payload; ``gateway audit
    verify`` names a token moved from another checkpoint and a checkpoint that claims another time than
    the one a TSA stamped (forged later, back-dated), and a TSA outage still writes the checkpoint."""
    pki = make_test_pki(tmp_path / "pki")
    app, sim = tsa_app(pki)
    with BackgroundServer(app) as server:
        gw = signed_gateway(gateway_factory, database_url, pki, timestamps={"url": server.url + "/", "timeout": 5})
        for i in range(3):
            with gw.sessions.begin() as session:
                audit.record(session, at=gw.clock.now(), actor="user:nam", action="ops.test", subject=f"t:{i}")
        first = gw.checkpoint_audit()
        with gw.sessions.begin() as session:
            audit.record(session, at=gw.clock.now(), actor="user:nam", action="ops.test", subject="t:3")
        second = gw.checkpoint_audit()
        assert first.timestamp and second.timestamp
        assert gw.verify_audit() == []
        lines = gw.checkpoint_file.read_text().splitlines()

        moved = json.loads(lines[1])
        moved["timestamp"] = first.timestamp
        gw.checkpoint_file.write_text(lines[0] + "\n" + json.dumps(moved) + "\n")
        found = gw.verify_audit()
        assert any("checkpoint 2" in p and "timestamp does not hold (timestamp_invalid" in p for p in found), found

        # Someone with the signing key forges a checkpoint claiming two hours ago and gets it stamped now.
        passphrase = read_passphrase(file=pki / "passphrase.txt")
        signing = load_key(pki / "signer.p12", passphrase)
        forged = replace(second, at=(datetime.now(UTC) - timedelta(hours=2)).isoformat(), timestamp=None)
        forged = checkpoints.sign(forged, gw.audit_key, signing)
        forged = replace(
            forged, timestamp=base64.b64encode(TsaClient(server.url + "/").stamp(forged.payload())).decode()
        )
        gw.checkpoint_file.write_text(lines[0] + "\n" + json.dumps(asdict(forged)) + "\n")
        found = gw.verify_audit()
        assert any("but was timestamped at" in p and "written at another time" in p for p in found), found

        gw.checkpoint_file.write_text("\n".join(lines) + "\n")
        sim.fail_with = 503
        third = gw.checkpoint_audit()  # the TSA is down: the anchor is written anyway, without a token
        assert third.timestamp is None and gw.checkpoint_file.read_text().count("\n") == 3
        assert gw.verify_audit() == []


def test_a_tsa_outage_is_exit_75_from_the_cli_with_nothing_stored(pki: Path, tmp_path: Path) -> None:
    """`gateway catalogues push` seals packets: with the TSA down (required) it says why in one line,
    exits 75 (try again later, as for a full disk) and stores no packet; with the TSA up it queues them."""
    app, sim = tsa_app(pki, TsaSim(fail_with=503))
    with BackgroundServer(app) as server:
        config = tmp_path / "gateway.toml"
        config.write_text(
            f"""data_dir = {json.dumps(str(tmp_path / "data"))}
[destinations.mpi]
url = "http://127.0.0.1:9/unused"
receiver = {{ code = "B05", name = "Bộ Kế hoạch và Đầu tư" }}
[[signing.keys]]
path = {json.dumps(str(pki / "signer.p12"))}
passphrase_file = {json.dumps(str(pki / "passphrase.txt"))}
[trust]
dir = {json.dumps(str(pki / "trust"))}
[timestamps]
url = {json.dumps(server.url + "/")}
timeout = 5
""",
            encoding="utf-8",
        )
        made = subprocess.run([GATEWAY, "db", "upgrade", "--config", str(config)], capture_output=True, text=True)
        assert made.returncode == 0, made.stderr
        command = [GATEWAY, "catalogues", "push", "--config", str(config), "--destination", "mpi"]
        down = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert down.returncode == 75, down.stdout + down.stderr
        lines = [line for line in down.stderr.splitlines() if line.strip()]
        assert "HTTP 503" in lines[-1] and "Nothing was stored" in lines[-1] and "Traceback" not in down.stderr
        database = create_engine(f"sqlite:///{tmp_path / 'data' / 'gateway.sqlite'}")
        with database.connect() as connection:
            assert connection.execute(select(func.count()).select_from(Packet)).scalar_one() == 0
        sim.fail_with = None
        up = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert up.returncode == 0, up.stdout + up.stderr
        with database.connect() as connection:
            payloads = connection.execute(select(Packet.payload)).scalars().all()
        database.dispose()
    assert payloads and all(b"DauThoiGian" in p for p in payloads)
