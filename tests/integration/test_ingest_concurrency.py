"""An ingest never stalls delivery (issue 16, item 6). On SQLite a 133 s ingest held the write lock
for its whole run: deliveries stopped for about two minutes and another writer failed with
"database is locked". Here `gateway ingest` reads a large CSV in its own process while a worker
delivers to the simulator from the same SQLite file; deliveries go on while the run is running."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from gateway.db.models import Delivery, IngestRun, Observation
from gateway.sim.faults import FaultPlan
from gateway.worker import Worker
from tests.conftest import GatewayFactory, SimFactory, national_destination
from tests.support.packets import store_packets
from tests.support.sources import write_long_csv

ROOT = Path(__file__).resolve().parents[2]
MAPPING = ROOT / "mappings" / "indicators" / "lao-cai-ktxh.yaml"
PACKETS = 120
ROWS = 24_000


def test_deliveries_go_on_during_a_large_ingest_on_sqlite(
    tmp_path: Path, gateway_factory: GatewayFactory, sim_factory: SimFactory
) -> None:
    database = tmp_path / "gateway.sqlite"
    sim = sim_factory(FaultPlan())
    gw = gateway_factory(
        database_url=f"sqlite:///{database}", destinations={"national": national_destination(sim.receive_url)}
    )
    _, delivery_ids = store_packets(gw, PACKETS)
    source = write_long_csv(tmp_path / "big.csv", ROWS)
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "cli-data"}"\n[database]\nurl = "sqlite:///{database}"\n'
        f'[broker]\nurl = "sqla+sqlite:///{tmp_path / "broker.sqlite"}"\n[ingest]\nbatch_size = 500\n',
        encoding="utf-8",
    )
    command = [str(Path(sys.executable).parent / "gateway"), "ingest", str(source), "--adapter", "csv"]
    ingest = subprocess.Popen(
        [*command, "--mapping", str(MAPPING), "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stop = threading.Event()
    worker = threading.Thread(target=Worker(gw, worker_id="during-ingest").run, args=(stop,), daemon=True)
    acknowledged_while_running = 0
    running_seen = False
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and ingest.poll() is None:  # wait for committed batches
            with gw.sessions() as session:
                stored = session.scalar(select(func.count()).select_from(Observation)) or 0
            if stored >= 1000:
                break
            time.sleep(0.05)
        worker.start()
        gw.publish(delivery_ids)
        while ingest.poll() is None and time.monotonic() < deadline:
            with gw.sessions() as session:
                state = session.scalar(select(IngestRun.state).order_by(IngestRun.id.desc()).limit(1))
                acked = session.scalar(select(func.count()).where(Delivery.state == "acknowledged")) or 0
            if state == "running":
                running_seen = True
                acknowledged_while_running = max(acknowledged_while_running, acked)
            time.sleep(0.1)
        out, errors = ingest.communicate(timeout=300)
    finally:
        if ingest.poll() is None:
            ingest.kill()
        stop.set()
        if worker.is_alive():
            worker.join(30)
    assert ingest.returncode == 0, errors
    assert f"read {ROWS}: mapped {ROWS}, quarantined 0, blank 0" in out
    assert "database is locked" not in errors
    assert running_seen
    # Before issue 16 not one delivery could be recorded until the ingest ended.
    assert acknowledged_while_running >= PACKETS // 4, acknowledged_while_running
    with gw.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Observation)) == ROWS
