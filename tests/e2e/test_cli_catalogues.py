"""`gateway catalogues push` as an operator runs it: each catalogue is built, sealed for the ministry
destination (its format, its receiver), queued in the outbox and delivered by the worker with the
normal retries (a 503 first), and the ministry simulator validates and verifies it over loopback; a
wrong destination or catalogue name is one line and exit 2, nothing queued."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from sqlalchemy import func, select

from gateway.db.models import AuditEvent, Delivery, Packet
from gateway.packets import model as m
from gateway.packets.profile import load_profile
from gateway.packets.validate import read_packet
from gateway.settings import KeySettings, SigningSettings, TrustSettings, UnitSettings
from gateway.signing.testpki import party
from gateway.sim.faults import FaultPlan
from tests.conftest import GatewayFactory, SimFactory, national_destination
from tests.e2e.test_cli_narrative import GATEWAY

MINISTRY = {"code": "B05", "name": "Bộ Kế hoạch và Đầu tư"}


def run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GATEWAY, "catalogues", "push", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_catalogues_are_pushed_to_a_ministry_through_the_outbox(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, test_pki: Path, tmp_path: Path
) -> None:
    signer, verifier = party(test_pki, "ministry", load_profile())  # the ministry's own key (unit B05)
    ministry = sim_factory(
        FaultPlan(script=("503",)), unit=m.Unit(**MINISTRY), name="ministry", signer=signer, verifier=verifier
    )
    database = f"sqlite:///{tmp_path / 'gateway.sqlite'}"
    gw = gateway_factory(
        database_url=database,
        destinations={
            "mpi": national_destination(ministry.receive_url).model_copy(
                update={"format": "xml", "receiver": UnitSettings(**MINISTRY)}
            )
        },
        signing=SigningSettings(
            keys=[KeySettings(path=test_pki / "signer.p12", passphrase_file=test_pki / "passphrase.txt")]
        ),
        trust=TrustSettings(dir=test_pki / "trust"),
    )
    config = tmp_path / "gateway.toml"
    config.write_text(
        f"""data_dir = {json.dumps(str(tmp_path / "data"))}
[database]
url = {json.dumps(database)}
[broker]
url = {json.dumps(f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}")}
[destinations.mpi]
url = {json.dumps(ministry.receive_url)}
receiver = {{ code = "B05", name = "Bộ Kế hoạch và Đầu tư" }}
format = "xml"
[[signing.keys]]
path = {json.dumps(str(test_pki / "signer.p12"))}
passphrase_file = {json.dumps(str(test_pki / "passphrase.txt"))}
[trust]
dir = {json.dumps(str(test_pki / "trust"))}
""",
        encoding="utf-8",
    )
    wrong = run(config, "--destination", "mpj")
    assert wrong.returncode == 2 and "unknown destination 'mpj'" in wrong.stderr and "mpi" in wrong.stderr
    unknown = run(config, "--destination", "mpi", "--catalogue", "DANH_MUC_CHI_TIU")
    assert unknown.returncode == 2 and "DANH_MUC_CHI_TIEU" in unknown.stderr and "Traceback" not in unknown.stderr
    one = run(config, "--destination", "mpi", "--catalogue", "DANH_MUC_CHI_TIEU")
    assert one.returncode == 0, one.stdout + one.stderr
    assert "DANH_MUC_CHI_TIEU queued for mpi" in one.stdout
    every = run(config, "--destination", "mpi")
    assert every.returncode == 0, every.stdout + every.stderr
    assert every.stdout.count("queued for mpi") == 5

    service = gw.delivery_service("catalogues")
    outcomes = []
    while (result := service.attempt_next()) is not None:
        outcomes.append(result.outcome)
    # Each acknowledged by the ministry's signed status packet, verified and bound to B05.
    assert outcomes.count("acknowledged") == 6 and "retry" in outcomes  # the 503 was retried
    with gw.sessions() as s:
        packets = s.scalars(select(Packet).order_by(Packet.created_at)).all()
        states = set(s.scalars(select(Delivery.state)))
        pushed = s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "catalogue.pushed"))
    assert states == {"acknowledged"} and pushed == 6
    kinds = sorted(p.packet_type for p in packets)
    assert kinds == sorted(
        ["DANH_MUC_CHI_TIEU"] * 2 + ["DANH_MUC_KY_BAO_CAO", "BO_CHI_SO", "DANH_MUC_NHOM_CHI_SO", "DANH_MUC_PHAN_TO"]
    )
    first = packets[0]
    assert first.payload.lstrip().startswith(b"<")  # the ministry's format
    envelope = read_packet(ministry.app.state.last_packets[first.id], source="pushed")
    assert envelope.receiver.code == "B05" and envelope.packet_type is m.PacketType.DANH_MUC_CHI_TIEU
    stats = ministry.stats
    assert stats["unique_packets"] == 6 and stats["invalid"] == 0 and stats["signature_refused"] == 0
