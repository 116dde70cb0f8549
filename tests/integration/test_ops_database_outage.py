"""Fault injection: the worker's PostgreSQL stops and starts again (a real server of the test's own,
stopped with ``pg_ctl``, so no other test's server is touched).

Found by an outside review: while PostgreSQL was down every drain job logged "delivery attempt failed
unexpectedly" with a full traceback, every sweep. Now: one line per try naming the database by host and
port (never the password), tries 1, 2, 4 ... s apart, no traceback, and a line when it is back; then
deliveries resume by themselves."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from gateway import logs
from gateway.db.models import Delivery
from gateway.worker import Worker
from tests.conftest import GatewayFactory, SimFactory, national_destination
from tests.support import services
from tests.support.packets import store_packets

pytestmark = pytest.mark.postgres

PASSWORD = "planted-db-password-8d2a"  # the test server trusts loopback: libpq never sends it


class OwnPostgres:
    """A PostgreSQL server for this test alone, which it may stop and start again."""

    def __init__(self) -> None:
        env = services.start_postgres()
        self.base = env["GATEWAY_TEST_PG_DIR"]
        url = make_url(env["GATEWAY_TEST_PG_URL"])
        self.port = int(url.port or 5432)
        self.url = url.set(password=PASSWORD).render_as_string(hide_password=False)

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            services._as_postgres([services._pg_bin("pg_ctl"), "-D", f"{self.base}/data", *args]),
            check=True,
            capture_output=True,
            timeout=60,
        )

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "-w", "stop")

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg_ctl("-o", opts, "-l", f"{self.base}/log", "-w", "start")

    def remove(self) -> None:
        services.stop_postgres(self.base)


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    server = OwnPostgres()
    yield server
    server.remove()


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logs.configure("INFO", "json", stream)
    yield stream
    logging.getLogger().removeHandler(handler)


def parsed(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_a_database_outage_is_one_line_per_backoff_step_and_deliveries_resume(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, own_postgres: OwnPostgres, json_lines: io.StringIO
) -> None:
    sim = sim_factory()
    gw = gateway_factory(
        database_url=own_postgres.url, destinations={"national": national_destination(sim.receive_url)}
    )
    stop = threading.Event()
    worker = Worker(gw, worker_id="ops-db", concurrency=4)
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        time.sleep(0.5)  # the worker is up and has asked SQL (sweep_interval 0.2 s)
        own_postgres.stop()
        time.sleep(7.5)  # tries at about 0, 1, 3 and 7 s
        during = parsed(json_lines)
        own_postgres.start()
        _, delivery_ids = store_packets(gw, 2)
        gw.publish(delivery_ids)
        deadline = time.monotonic() + 30  # the next try is at most 8 s away
        while time.monotonic() < deadline:
            with gw.sessions() as session:
                states = set(session.scalars(select(Delivery.state).where(Delivery.id.in_(delivery_ids))))
            if states == {"acknowledged"}:
                break
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert states == {"acknowledged"}, json_lines.getvalue()[-3000:]

    where = f"127.0.0.1:{own_postgres.port}/gateway_test"
    down = [line for line in during if line["msg"].startswith("database ")]
    assert 3 <= len(down) <= 5, [line["msg"] for line in during]
    for line in down:
        assert line["level"] == "error" and line["logger"] == "gateway.worker"
        assert line["msg"].startswith(f"database unreachable at {where} ("), line["msg"]
        assert "deliveries paused" in line["msg"]
    waits = [line["msg"].rsplit("trying again in ", 1)[1] for line in down]
    assert waits[:3] == ["1 s", "2 s", "4 s"], waits
    assert not [line for line in during if "error" in line or "delivery attempt failed" in line["msg"]], during

    back = [line["msg"] for line in parsed(json_lines) if "reachable again" in line["msg"]]
    assert len(back) == 1 and back[0].startswith(f"database at {where} is reachable again after "), back
    assert PASSWORD not in json_lines.getvalue()


def test_the_scheduler_says_one_line_a_tick_while_the_database_is_down(
    gateway_factory: GatewayFactory, own_postgres: OwnPostgres, json_lines: io.StringIO
) -> None:
    """The worker's sibling: the scheduler's loop logged "scheduler tick failed" with a traceback every
    interval while PostgreSQL was down. One line a tick now, naming the server; runs catch up after."""
    from gateway.scheduler import Scheduler

    gw = gateway_factory(database_url=own_postgres.url)
    stop = threading.Event()
    thread = threading.Thread(target=Scheduler(gw, []).loop, args=(stop, 0.5), daemon=True)
    own_postgres.stop()
    try:
        thread.start()
        time.sleep(2.2)
    finally:
        stop.set()
        thread.join(timeout=30)
        own_postgres.start()
    ticks = [line for line in parsed(json_lines) if line["logger"] == "gateway.scheduler"]
    assert 2 <= len(ticks) <= 6, ticks
    where = f"127.0.0.1:{own_postgres.port}/gateway_test"
    for line in ticks:
        assert line["msg"].startswith(f"database unreachable at {where} ("), line["msg"]
        assert "error" not in line, line  # no traceback for an expected condition
    assert PASSWORD not in json_lines.getvalue()


def test_metrics_still_answer_while_the_database_is_down_and_say_so(
    gateway_factory: GatewayFactory, own_postgres: OwnPostgres, json_lines: io.StringIO
) -> None:
    """A scrape read the state from SQL and failed whole (a 500 and a traceback) while the database was
    down: the outage hid the very metrics that would have shown it. Now the scrape answers, with
    ``gateway_database_up 0`` (the GatewayDatabaseDown alert) and this process's own metrics; the
    state metrics come back with the database."""
    from prometheus_client.parser import text_string_to_metric_families

    from gateway import metrics

    gw = gateway_factory(database_url=own_postgres.url)

    def scrape() -> dict[str, float]:
        text = metrics.render(gw).decode()
        return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples if not s.labels}

    assert scrape()["gateway_database_up"] == 1.0
    own_postgres.stop()
    try:
        down = scrape()
    finally:
        own_postgres.start()
    assert down["gateway_database_up"] == 0.0
    assert "gateway_dead_letters" not in down  # not a made-up 0: left out until it can be read
    assert "gateway_scheduler_last_tick_timestamp_seconds" in down  # the process's own metrics still there
    warned = [line for line in parsed(json_lines) if line["logger"] == "gateway.metrics"]
    assert len(warned) == 1 and warned[0]["msg"].startswith("metrics: database unreachable at 127.0.0.1:")
    back = scrape()
    assert back["gateway_database_up"] == 1.0 and back["gateway_dead_letters"] == 0.0
