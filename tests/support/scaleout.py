"""Run the gateway as separate processes (API, N workers, M schedulers) against PostgreSQL and
RabbitMQ, deliver a number of packets to a simulator, and report what happened. Used by the
scale-out test and by bench/scale_out_bench.py."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import func, select

from gateway.bootstrap import bootstrap
from gateway.db.models import Delivery, ScheduledRun
from gateway.settings import load_settings
from tests.support.packets import store_packets


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ScaleOutResult:
    packets: int
    acknowledged: int
    seconds: float
    unique_received: int
    received_total: int
    scheduled_runs: int
    duplicate_runs: int
    ready_during_run: bool

    @property
    def per_second(self) -> float:
        return self.acknowledged / self.seconds if self.seconds else 0.0


def write_config(directory: Path, database_url: str, broker_url: str, receive_url: str, api_port: int) -> Path:
    queue = f"gateway.scale.{uuid.uuid4().hex[:8]}"
    path = directory / "gateway.toml"
    path.write_text(
        f"""
data_dir = "{directory / "data"}"
[database]
url = "{database_url}"
[broker]
url = "{broker_url}"
queue = "{queue}"
queue_type = "quorum"
[worker]
concurrency = 8
lease_seconds = 30
sweep_interval = 0.5
[api]
port = {api_port}
[metrics]
worker_port = 0
scheduler_port = 0
[log]
level = "WARNING"
[destinations.national]
url = "{receive_url}"
receiver = {{ code = "G01", name = "Hệ thống thông tin báo cáo Chính phủ" }}
max_concurrency = 8
sign = false  # the scale-out measures queues and delivery; the simulator here checks no signature
[destinations.national.retry]
max_attempts = 30
initial_wait = 0.1
max_wait = 1.0
""",
        encoding="utf-8",
    )
    return path


def run_scale_out(
    directory: Path,
    database_url: str,
    broker_url: str,
    receive_url: str,
    stats_url: str,
    packets: int,
    workers: int = 3,
    schedulers: int = 2,
    timeout: float = 600,
) -> ScaleOutResult:
    api_port = free_port()
    config = write_config(directory, database_url, broker_url, receive_url, api_port)
    gw = bootstrap(load_settings(config), migrate=True)
    _, delivery_ids = store_packets(gw, packets)
    gateway = str(Path(sys.executable).parent / "gateway")
    logs = directory / "processes.log"
    procs: list[subprocess.Popen[bytes]] = []
    with logs.open("ab") as out:
        procs.append(
            subprocess.Popen([gateway, "serve", "--config", str(config)], stdout=out, stderr=subprocess.STDOUT)
        )
        procs += [
            subprocess.Popen(
                [gateway, "worker", "--config", str(config), "--id", f"w{i}"], stdout=out, stderr=subprocess.STDOUT
            )
            for i in range(workers)
        ]
        procs += [
            subprocess.Popen(
                [gateway, "scheduler", "--config", str(config), "--interval", "2"], stdout=out, stderr=subprocess.STDOUT
            )
            for _ in range(schedulers)
        ]
    started = time.monotonic()
    gw.publish(delivery_ids)
    ready = False
    try:
        done = 0
        while time.monotonic() - started < timeout:
            with gw.sessions() as s:
                done = int(s.scalar(select(func.count()).where(Delivery.state == "acknowledged")) or 0)
            if not ready:
                try:
                    ready = httpx.get(f"http://127.0.0.1:{api_port}/readyz", timeout=2).status_code == 200
                except httpx.HTTPError:
                    ready = False
            if done == packets:
                break
            time.sleep(0.25)
        seconds = time.monotonic() - started
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    stats = httpx.get(stats_url, timeout=5).json()
    with gw.sessions() as s:
        runs = list(s.execute(select(ScheduledRun.regime_code, ScheduledRun.period_key)))
    gw.close()
    return ScaleOutResult(
        packets,
        done,
        seconds,
        stats["unique_packets"],
        stats["received_total"],
        len(runs),
        len(runs) - len(set(runs)),
        ready,
    )
