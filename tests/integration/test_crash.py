"""Crash test: a worker process is SIGKILLed at random moments while 1,000 packets are delivered.
Nothing may be lost, nothing left pending, and after deduplication the receiver counts each packet
exactly once. Runs on SQLite + kombu's SQLAlchemy transport and on PostgreSQL + RabbitMQ."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.bootstrap import Gateway
from gateway.db.models import Delivery
from gateway.sim.faults import FaultPlan
from tests.conftest import GatewayFactory, SimFactory, fresh_pg_database, national_destination
from tests.support.packets import store_packets

PACKETS = 1000
KILLS = 6


def write_config(path: Path, database_url: str, broker_url: str, queue: str, receive_url: str) -> Path:
    path.write_text(
        f"""
data_dir = "{path.parent / "data"}"
[database]
url = "{database_url}"
[broker]
url = "{broker_url}"
queue = "{queue}"
polling_interval = 0.05
[worker]
concurrency = 8
lease_seconds = 3
sweep_interval = 0.3
[destinations.national]
url = "{receive_url}"
receiver = {{ code = "G01", name = "Hệ thống thông tin báo cáo Chính phủ" }}
timeout = 2.0
[destinations.national.retry]
max_attempts = 50
initial_wait = 0.05
max_wait = 0.5
""",
        encoding="utf-8",
    )
    return path


def start_worker(config: Path, log: Path, n: int) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "gateway"), "worker", "--config", str(config), "--id", f"crash-{n}"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def counts(gw: Gateway) -> dict[str, int]:
    with gw.sessions() as s:
        return {state: n for state, n in s.execute(select(Delivery.state, func.count()).group_by(Delivery.state))}


@pytest.mark.slow
@pytest.mark.parametrize(
    "backend",
    ["sqlite+sqlalchemy", pytest.param("postgres+rabbitmq", marks=[pytest.mark.postgres, pytest.mark.rabbitmq])],
)
def test_sigkilled_workers_lose_nothing(
    backend: str,
    tmp_path: Path,
    gateway_factory: GatewayFactory,
    sim_factory: SimFactory,
    request: pytest.FixtureRequest,
) -> None:
    if backend == "sqlite+sqlalchemy":
        database_url = f"sqlite:///{tmp_path / 'gateway.sqlite'}"
        broker_url = f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"
    else:
        database_url = fresh_pg_database(request.getfixturevalue("pg_server_url"))
        broker_url = request.getfixturevalue("amqp_server_url")
    queue = f"gateway.crash.{uuid.uuid4().hex[:8]}"
    sim = sim_factory(FaultPlan(p_503=0.05, seed=7))
    gw = gateway_factory(
        database_url=database_url,
        broker_url=broker_url,
        queue=queue,
        destinations={"national": national_destination(sim.receive_url)},
    )
    packet_ids, delivery_ids = store_packets(gw, PACKETS)
    gw.publish(delivery_ids)
    config = write_config(tmp_path / "gateway.toml", database_url, broker_url, queue, sim.receive_url)
    log = tmp_path / "worker.log"
    rng = random.Random(20261122)
    kills = 0
    worker = start_worker(config, log, 0)
    deadline = time.monotonic() + 240
    try:
        while kills < KILLS and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.8, 2.5))
            state = counts(gw)
            if state.get("acknowledged", 0) >= PACKETS:
                break
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait()
            kills += 1
            worker = start_worker(config, log, kills)
        while counts(gw).get("acknowledged", 0) < PACKETS and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
    final = counts(gw)
    assert kills >= 5, f"only {kills} kills happened before delivery finished; {final}"
    assert final == {"acknowledged": PACKETS}, f"{final}\n{log.read_text()[-3000:]}"
    time.sleep(0.5)
    received = sim.app.state.stats.received
    assert set(received) == set(packet_ids)  # every MaGoiTin arrived at least once
    assert sim.stats["unique_packets"] == PACKETS  # and exactly once after deduplication


INGEST_ROWS = 12_000


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_sigkilled_ingest_leaves_nothing_visible_and_the_source_is_read_again(
    backend: str, tmp_path: Path, gateway_factory: GatewayFactory, request: pytest.FixtureRequest
) -> None:
    """Issue 16 item 6: an ingest killed after committing batches leaves them invisible; the next
    ingest finds the run unfinished (its process is gone), removes them, and reads the source whole."""
    from gateway.calendar.regimes import load_regime
    from gateway.db.models import IngestRun, Observation
    from gateway.reconciliation.summary import summarise
    from gateway.reports import build_reports
    from tests.support.sources import reports_in, write_long_csv

    if backend == "sqlite":
        database_url = f"sqlite:///{tmp_path / 'gateway.sqlite'}"
    else:
        database_url = fresh_pg_database(request.getfixturevalue("pg_server_url"))
    gw = gateway_factory(
        database_url=database_url, destinations={"national": national_destination("http://127.0.0.1:9/unused")}
    )
    source = write_long_csv(tmp_path / "big.csv", INGEST_ROWS)
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "cli-data"}"\n[database]\nurl = "{database_url}"\n'
        f'[broker]\nurl = "sqla+sqlite:///{tmp_path / "broker.sqlite"}"\n[ingest]\nbatch_size = 200\n',
        encoding="utf-8",
    )
    mapping = Path(__file__).resolve().parents[2] / "mappings" / "indicators" / "lao-cai-ktxh.yaml"
    command = [str(Path(sys.executable).parent / "gateway"), "ingest", str(source), "--adapter", "csv"]
    command += ["--mapping", str(mapping), "--config", str(config)]
    killed = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    stored = 0
    while stored < 1000 and killed.poll() is None and time.monotonic() < deadline:
        with gw.sessions() as session:
            stored = session.scalar(select(func.count()).select_from(Observation)) or 0
        time.sleep(0.02)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    with gw.sessions() as session:
        run = session.scalars(select(IngestRun)).one()
        half = session.scalar(select(func.count()).select_from(Observation)) or 0
        assert run.state == "running" and 1000 <= half < INGEST_ROWS  # killed mid-run, batches committed
        assert summarise(session).read == 0
    regime = load_regime("KTXH-THANG")

    def build() -> int:
        return len(
            build_reports(
                gw.sessions,
                regime,
                sender=gw.settings.sender,
                destinations=gw.settings.destinations,
                sealer=gw.sealer,
                clock=gw.clock,
            )
        )

    assert build() == 0  # nothing half-visible

    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert f"ingest run {run.id} ({source}) was found unfinished (its process {killed.pid}" in again.stderr
    assert f"read {INGEST_ROWS}: mapped {INGEST_ROWS}, quarantined 0, blank 0" in again.stdout
    assert f"stored: {INGEST_ROWS:,} new, 0 changed; 0 unchanged" in again.stdout
    with gw.sessions() as session:
        states = list(session.scalars(select(IngestRun.state).order_by(IngestRun.id)))
        left = session.scalar(select(func.count()).where(Observation.ingest_run_id == run.id))
        total = session.scalar(select(func.count()).select_from(Observation))
    assert states == ["failed", "completed"] and left == 0 and total == INGEST_ROWS
    assert build() == reports_in(INGEST_ROWS)  # every report once
    assert build() == 0
