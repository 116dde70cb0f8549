"""`gateway reports send-narrative` as an operator runs it: Markdown sections and a signed PDF become a
signed GUI_DE_CUONG that the national simulator validates and verifies over loopback; an unsigned PDF
is refused before anything is queued."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from gateway.db.models import Delivery, Packet
from gateway.packets import model as m
from gateway.packets.profile import load_profile
from gateway.packets.validate import read_packet
from gateway.settings import KeySettings, SigningSettings, TrustSettings
from gateway.signing.pdf import make_pdf, sign_pdf
from gateway.signing.testpki import party
from gateway.sim.faults import FaultPlan
from tests.conftest import GatewayFactory, SimFactory, national_destination
from tests.support.signing import key

GATEWAY = str(Path(sys.executable).parent / "gateway")


def config_file(tmp_path: Path, database: str, sim_url: str, pki: Path) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(
        f"""data_dir = {json.dumps(str(tmp_path / "data"))}
[database]
url = {json.dumps(database)}
[broker]
url = {json.dumps(f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}")}
[destinations.national]
url = {json.dumps(sim_url)}
receiver = {{ code = "G01", name = "Hệ thống thông tin báo cáo Chính phủ" }}
format = "xml"
[[signing.keys]]
path = {json.dumps(str(pki / "signer.p12"))}
passphrase_file = {json.dumps(str(pki / "passphrase.txt"))}
[trust]
dir = {json.dumps(str(pki / "trust"))}
""",
        encoding="utf-8",
    )
    return path


def run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GATEWAY, "reports", "send-narrative", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_send_narrative_with_a_signed_pdf_reaches_the_simulator(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, test_pki: Path, tmp_path: Path
) -> None:
    profile = load_profile()
    sim_signer, sim_verifier = party(test_pki, "national", profile)
    sim = sim_factory(FaultPlan(), signer=sim_signer, verifier=sim_verifier)
    database = f"sqlite:///{tmp_path / 'gateway.sqlite'}"
    destination = national_destination(sim.receive_url).model_copy(update={"format": "xml"})
    gw = gateway_factory(
        database_url=database,
        destinations={"national": destination},
        signing=SigningSettings(
            keys=[KeySettings(path=test_pki / "signer.p12", passphrase_file=test_pki / "passphrase.txt")]
        ),
        trust=TrustSettings(dir=test_pki / "trust"),
    )
    config = config_file(tmp_path, database, sim.receive_url, test_pki)
    economy = tmp_path / "kinh-te.md"
    economy.write_text("## Kinh tế\n\nTổng thu ngân sách tháng 10 đạt 1.234,5 tỷ đồng.\n", encoding="utf-8")
    plans = tmp_path / "nhiem-vu.md"
    plans.write_text("Tập trung thu hoạch lúa mùa.\n", encoding="utf-8")
    pdf = sign_pdf(make_pdf(["Báo cáo kinh tế - xã hội tháng 10/2026", "UBND tỉnh Lào Cai"]), key(test_pki, "signer"))
    (tmp_path / "bao-cao.pdf").write_bytes(pdf)
    common = [
        "--regime", "KTXH-THANG", "--period", "2026-THANG-10", "--outline", "DC-KTXH-THANG",
        "--number", "123/BC-UBND", "--summary", "Báo cáo tình hình kinh tế - xã hội tháng 10 năm 2026",
        "--signer-name", "Nguyễn Văn A", "--signer-title", "Chủ tịch", "--issued-on", "2026-10-20",
    ]  # fmt: skip
    sent = run(
        config,
        *common,
        "--section",
        f"I.1={economy}",
        "--section",
        f"II={plans}",
        "--attach",
        str(tmp_path / "bao-cao.pdf"),
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert f"sha256={hashlib.sha256(pdf).hexdigest()}" in sent.stdout

    with gw.sessions() as s:
        packet = s.scalars(select(Packet).where(Packet.packet_type == "GUI_DE_CUONG")).one()
        (delivery_id,) = s.scalars(select(Delivery.id).where(Delivery.packet_id == packet.id))
        payload = packet.payload
    assert payload.lstrip().startswith(b"<")  # the destination's format
    body = read_packet(payload, source="narrative").body
    assert isinstance(body, m.NarrativeReport)
    assert [c.section_code for c in body.section_contents] == ["I.1", "II"]
    assert body.attachments[0].sha256 == hashlib.sha256(pdf).hexdigest()
    assert body.document.signer.title == "Chủ tịch" and body.revision == 1 and packet.form_code == "DC-KTXH-THANG"
    assert gw.delivery_service("narrative").attempt(delivery_id).outcome == "acknowledged"
    assert sim.stats["signature_refused"] == 0 and sim.stats["unique_packets"] == 1

    unsigned = tmp_path / "chua-ky.pdf"
    unsigned.write_bytes(make_pdf(["Chưa ký"]))
    refused = run(config, *common, "--section", f"I.1={economy}", "--attach", str(unsigned))
    assert refused.returncode != 0 and "chua-ky.pdf" in refused.stdout + refused.stderr
    assert "Traceback" not in refused.stderr
    unknown = run(config, *common, "--section", f"IX={economy}")
    assert unknown.returncode != 0 and "no section IX" in unknown.stdout + unknown.stderr
    with gw.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Packet).where(Packet.packet_type == "GUI_DE_CUONG")) == 1
