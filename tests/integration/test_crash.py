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
