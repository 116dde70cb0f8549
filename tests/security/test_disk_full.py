"""Issue 18 item 14: a full disk. API writes answered a bare 500, ``/readyz`` still said ready and
CLI errors suggested ``gateway db upgrade``. The data directory is put on a small tmpfs mounted for the
test (the suite runs as root, as ``make test`` does), filled to the last byte, then freed."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from gateway import metrics
from gateway.api.app import create_app
from gateway.bootstrap import bootstrap
from gateway.db.models import Delivery
from gateway.packets import model as m
from gateway.settings import Settings
from gateway.sim.faults import FaultPlan
from gateway.sim.server import BackgroundServer
from gateway.worker import Worker
from tests.conftest import SimFactory, national_destination
from tests.integration.test_worker import wait_until_final
from tests.support.api import bearer, client_token
from tests.support.packets import status_packet, store_packets

GATEWAY = str(Path(sys.executable).parent / "gateway")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(disk)]  # above MIN_FREE_BYTES when empty
    mounted = subprocess.run(command, capture_output=True, text=True)
    assert mounted.returncode == 0, f"cannot mount a tmpfs (the suite needs root): {mounted.stderr}"
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
        try:
            while True:  # the last few bytes too
                f.write(b"\0")
                f.flush()
        except OSError:
            pass
    return filler


def test_a_full_disk_is_reported_as_such_and_recovered_from(small_disk: Path) -> None:
    settings = Settings(
        data_dir=small_disk / "data",
        destinations={"national": national_destination("http://127.0.0.1:9/none", sign=False)},
    )
    gw = bootstrap(settings)
    try:
        packet_ids, delivery_ids = store_packets(gw, 1)
        with gw.sessions.begin() as s:
            s.get(Delivery, delivery_ids[0]).state = "delivered"  # type: ignore[union-attr]
        app = create_app(gw)
        auth = bearer(client_token(gw, app, "receiver"))
        with BackgroundServer(app) as api:
            before = httpx.get(f"{api.url}/readyz", timeout=20)
            assert before.status_code == 200, before.text
            filler = fill(small_disk)
            body = status_packet(packet_ids[0], m.ReportStatus.DA_TIEP_NHAN)
            refused = httpx.post(f"{api.url}/v1/intake/status", content=body, headers=auth, timeout=30)
            assert refused.status_code == 507, refused.text
            assert refused.json()["code"] == "no_space" and "no space left" in refused.json()["detail"]
            assert refused.headers["retry-after"] == "30"
            ready = httpx.get(f"{api.url}/readyz", timeout=20)
            assert ready.status_code == 503 and "no space left" in ready.json()["checks"]["disk"], ready.text

            env = {**os.environ, "GATEWAY_DATA_DIR": str(settings.data_dir), "GATEWAY_NEW_PASSWORD": "x" * 20}
            cli = subprocess.run(
                [GATEWAY, "users", "add", "khanh"], capture_output=True, text=True, env=env, timeout=120
            )
            assert cli.returncode == 75 and "no space left" in cli.stderr, cli.stdout + cli.stderr
            assert "db upgrade" not in cli.stderr

            filler.unlink()  # space returns: the gateway recovers by itself
            after = httpx.get(f"{api.url}/readyz", timeout=20)
            assert after.status_code == 200, after.text
            again = httpx.post(f"{api.url}/v1/intake/status", content=body, headers=auth, timeout=30)
            assert again.status_code == 202, again.text
        with gw.sessions() as s:
            assert s.scalars(select(Delivery.state)).one() == "acknowledged"
    finally:
        gw.close()


def test_the_worker_backs_off_a_full_disk_loses_nothing_and_resumes(
    small_disk: Path, sim_factory: SimFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The issue's worker logged 584 errors in 40 s. With its data directory (database, broker, audit
    checkpoints) on a full tmpfs, the worker stays up, pauses (1 s doubling), says why in a bounded
    number of lines and in ``gateway_worker_no_space_pauses``, sends nothing half-recorded, and
    delivers every packet once space returns."""
    sim = sim_factory(FaultPlan())
    settings = Settings(
        data_dir=small_disk / "data",
        destinations={"national": national_destination(sim.receive_url, sign=False)},
        worker={"concurrency": 2, "sweep_interval": 0.2},
        audit={"checkpoint_interval": 1.0},
    )
    gw = bootstrap(settings)
    stop = threading.Event()
    thread = threading.Thread(target=Worker(gw, worker_id="w-full").run, args=(stop,), daemon=True)
    try:
        _, delivery_ids = store_packets(gw, 12)
        filler = fill(small_disk)
        pauses = metrics.NO_SPACE_PAUSES._value.get()
        with caplog.at_level(logging.WARNING):
            thread.start()
            time.sleep(8.0)
            full = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("gateway")]
            assert thread.is_alive(), "the worker died on a full disk"
            assert any("no space left" in r.getMessage() for r in full), [r.getMessage() for r in full]
            paused = metrics.NO_SPACE_PAUSES._value.get() - pauses
            assert 1 <= paused <= 8, paused  # 1 + 2 + 4 s of pauses fit in 8 s: a handful, not a loop
            assert len(full) <= 20, f"{len(full)} lines in 8 s: " + " | ".join(r.getMessage()[:80] for r in full[:30])
            # The audit checkpoint (due every second here) backs off too, and says "no space" plainly:
            # before, it logged a traceback at every sweep.
            anchor = [r for r in full if "checkpoint" in r.getMessage()]
            assert 1 <= len(anchor) <= 4, [r.getMessage()[:100] for r in anchor]
            assert all("no space left" in r.getMessage() and r.exc_info is None for r in anchor), anchor
            assert sim.stats["unique_packets"] == 0  # nothing sent that could not be recorded
            filler.unlink()
            states = wait_until_final(gw, len(delivery_ids), timeout=90)
        assert states == {"acknowledged": 12}
        assert sim.stats["unique_packets"] == 12
    finally:
        stop.set()
        thread.join(timeout=30)
        gw.close()
