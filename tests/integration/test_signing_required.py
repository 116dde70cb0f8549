"""A destination that requires signed packets gets none unsigned: with ``sign`` on (the default) and no
signing key, nothing is sealed nor stored, the scheduler's run is not recorded, and once a key is
configured the next tick sends signed packets the simulator accepts.

Found from outside (README walk, 2026-12-02): with no ``[[signing.keys]]``, ``scheduler --once``
logged a warning and queued 30 unsigned deliveries; the national simulator refused every one
("the packet carries no ChuKySo"), and ``gateway replay`` sent the same unsigned bytes again."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from adapters.xlsx_templates import XlsxTemplateReader
from gateway.bootstrap import Gateway
from gateway.calendar.regimes import load_regime
from gateway.clock import VN_TZ, FrozenClock
from gateway.db.models import Delivery, Packet, ScheduledRun
from gateway.demo import MAPPING, SAMPLE
from gateway.errors import SigningUnavailable
from gateway.ingest import ingest
from gateway.packets.profile import load_profile
from gateway.scheduler import Scheduler
from gateway.settings import KeySettings, SigningSettings, TrustSettings
from gateway.signing.testpki import party
from gateway.sim.faults import FaultPlan
from mappings.indicators import load_mapping
from tests.conftest import GatewayFactory, SimFactory, national_destination

REGIME = load_regime("KTXH-THANG").model_copy(update={"destinations": ["national"], "start": date(2026, 10, 1)})


def counts(gw: Gateway) -> tuple[int, int, int]:
    with gw.sessions() as s:
        return (
            int(s.scalar(select(func.count()).select_from(Packet)) or 0),
            int(s.scalar(select(func.count()).select_from(Delivery)) or 0),
            int(s.scalar(select(func.count()).select_from(ScheduledRun)) or 0),
        )


def test_no_key_seals_nothing_and_the_next_tick_with_a_key_is_accepted(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str, test_pki: Path
) -> None:
    profile = load_profile()
    sim_signer, sim_verifier = party(test_pki, "national", profile)
    sim = sim_factory(FaultPlan(), signer=sim_signer, verifier=sim_verifier)
    clock = FrozenClock(datetime.now(VN_TZ))
    requires = national_destination(sim.receive_url).model_copy(update={"sign": True})
    unsigned = gateway_factory(database_url=database_url, clock=clock, destinations={"national": requires})
    ingest(unsigned.sessions, XlsxTemplateReader(SAMPLE), load_mapping(MAPPING), clock, reporting_unit="H15")
    with pytest.raises(SigningUnavailable, match=r"national require signed packets .* no signing key"):
        Scheduler(unsigned, [REGIME], name="no-key").tick()
    assert counts(unsigned) == (0, 0, 0)  # nothing stored, the run not recorded: tried again next tick

    signed = gateway_factory(
        database_url=database_url,
        clock=clock,
        destinations={"national": requires},
        signing=SigningSettings(
            keys=[KeySettings(path=test_pki / "signer.p12", passphrase_file=test_pki / "passphrase.txt")]
        ),
        trust=TrustSettings(dir=test_pki / "trust"),
        migrate=False,
    )
    results = Scheduler(signed, [REGIME], name="with-key").tick()
    assert sum(r.packets for r in results) > 0
    packets, deliveries, _ = counts(signed)
    assert packets == deliveries > 0
    with signed.sessions() as s:
        for (payload,) in s.execute(select(Packet.payload)):
            assert b"ChuKySo" in payload


def test_scheduler_once_without_a_key_exits_2_naming_the_destination_and_the_setting(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'data_dir = "{data}"\n'
        '[destinations.national]\nurl = "http://127.0.0.1:9/receive"\nreceiver = { code = "G01", name = "CP" }\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["COLUMNS"] = "300"
    gateway = str(Path(sys.executable).parent / "gateway")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [gateway, *args, "--config", str(config)], capture_output=True, text=True, env=env, timeout=180
        )

    ingested = run("ingest", str(SAMPLE), "--adapter", "xlsx", "--mapping", str(MAPPING))
    assert ingested.returncode == 0, ingested.stderr
    done = run("scheduler", "--once")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "national require signed packets" in done.stderr and "[[signing.keys]]" in done.stderr
    assert "Traceback" not in done.stderr
    listed = run("deliveries", "list", "--format", "json")
    assert listed.returncode == 0 and listed.stdout.strip() in ("[]", ""), listed.stdout
