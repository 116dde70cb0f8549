"""Fault injection against the real RabbitMQ: a queue that exists with other arguments, a refused
password, a closed port. ``/readyz`` and the worker must each say which of the three it is, naming the
broker by host and port (and the user, never the password).

Found by an outside review: ``/readyz`` only connected, so a queue declared as classic where the
configuration says quorum (every consumer and publish refused with PRECONDITION_FAILED) read "ok";
a wrong password read "unreachable: AccessRefused"; the worker said "broker unreachable" for all three,
with no host."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kombu import Connection

from gateway import logs
from gateway.api.app import create_app
from gateway.bootstrap import Gateway, bootstrap
from gateway.messaging import Broker
from gateway.settings import Settings
from gateway.sim.server import BackgroundServer
from gateway.worker import Worker
from tests.support import services

pytestmark = pytest.mark.rabbitmq

WRONG_PASSWORD = "planted-wrong-password-4c1e"


class JsonLines:
    """The gateway's own JSON log handler writing into memory, for the duration of a test."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.handler = logs.configure("INFO", "json", self.stream)

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def close(self) -> None:
        logging.getLogger().removeHandler(self.handler)


@pytest.fixture
def json_lines() -> Iterator[JsonLines]:
    captured = JsonLines()
    yield captured
    captured.close()


def gateway_on(tmp_path: Path, broker_url: str, queue: str, queue_type: str = "classic") -> Gateway:
    settings = Settings(
        data_dir=tmp_path / "data",
        database={"url": f"sqlite:///{tmp_path / 'gateway.sqlite'}"},
        broker={"url": broker_url, "queue": queue, "queue_type": queue_type},
        worker={"concurrency": 2, "sweep_interval": 0.2},
    )
    return bootstrap(settings, migrate=True)


def readyz(gw: Gateway) -> httpx.Response:
    with BackgroundServer(create_app(gw)) as api:
        return httpx.get(f"{api.url}/readyz", timeout=30)


def run_worker(gw: Gateway, seconds: float) -> None:
    stop = threading.Event()
    worker = Worker(gw, worker_id="ops-faults", concurrency=2)
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    time.sleep(seconds)
    stop.set()
    thread.join(timeout=30)
    assert not thread.is_alive()


@pytest.fixture
def queue_name(amqp_server_url: str) -> Iterator[str]:
    name = f"gateway.ops.{uuid.uuid4().hex[:8]}"
    yield name
    with Connection(amqp_server_url, connect_timeout=5) as conn:
        conn.default_channel.queue_delete(name)


def host_port(url: str) -> str:
    info = Connection(url).info()
    return f"{info['hostname']}:{info['port']}"


def test_readyz_and_the_worker_name_a_queue_declared_otherwise(
    amqp_server_url: str, queue_name: str, tmp_path: Path, json_lines: JsonLines
) -> None:
    Broker(amqp_server_url, queue_name, queue_type="classic").declare()  # made earlier, by hand, as classic
    gw = gateway_on(tmp_path, amqp_server_url, queue_name, queue_type="quorum")
    try:
        started = time.monotonic()
        answer = readyz(gw)
        assert time.monotonic() - started < 15
        assert answer.status_code == 503, answer.text
        broker = answer.json()["checks"]["broker"]
        assert broker.startswith(f"queue {queue_name!r} on {host_port(amqp_server_url)} is declared differently")
        assert "PRECONDITION_FAILED" in broker and "inequivalent arg" in broker, broker
        assert "broker.queue_type = 'quorum'" in broker
        assert answer.json()["checks"]["database"] == "ok"

        run_worker(gw, 1.5)
    finally:
        gw.close()
    said = [line["msg"] for line in json_lines.lines() if line["logger"] == "gateway.worker"]
    assert said, json_lines.text
    assert all("is declared differently" in msg and "unreachable" not in msg for msg in said), said
    assert all(queue_name in msg and "delivering from SQL alone" in msg for msg in said), said
    assert not any("error" in line for line in json_lines.lines()), json_lines.text  # no traceback


def test_readyz_and_the_worker_say_credentials_refused_without_the_password(
    amqp_server_url: str, queue_name: str, tmp_path: Path, json_lines: JsonLines
) -> None:
    wrong = amqp_server_url.replace("guest:guest@", f"guest:{WRONG_PASSWORD}@")
    assert wrong != amqp_server_url
    gw = gateway_on(tmp_path, wrong, queue_name)
    try:
        answer = readyz(gw)
        assert answer.status_code == 503, answer.text
        broker = answer.json()["checks"]["broker"]
        assert broker.startswith(f"credentials refused by {host_port(wrong)} for user guest"), broker
        assert "ACCESS_REFUSED" in broker
        assert WRONG_PASSWORD not in answer.text

        run_worker(gw, 1.5)
    finally:
        gw.close()
    said = [line["msg"] for line in json_lines.lines() if line["logger"] == "gateway.worker"]
    assert said and all(
        msg.startswith(f"broker credentials refused by {host_port(wrong)} for user guest") for msg in said
    ), said
    assert WRONG_PASSWORD not in json_lines.text


def test_a_closed_port_is_unreachable_at_its_host_and_port_tried_with_backoff(
    tmp_path: Path, json_lines: JsonLines
) -> None:
    port = services.free_port()  # bound, then closed: nothing listens there
    url = f"amqp://guest:{WRONG_PASSWORD}@127.0.0.1:{port}//"
    gw = gateway_on(tmp_path, url, "gateway.ops.closed")
    try:
        started = time.monotonic()
        answer = readyz(gw)
        assert time.monotonic() - started < 15
        assert answer.status_code == 503, answer.text
        assert answer.json()["checks"]["broker"].startswith(f"unreachable at 127.0.0.1:{port} ("), answer.text

        run_worker(gw, 3.6)  # tries at 0, 1 and 3 s: three lines, not one a second (nor a retry burst)
    finally:
        gw.close()
    said = [line["msg"] for line in json_lines.lines() if line["logger"] == "gateway.worker"]
    assert 2 <= len(said) <= 4, said
    assert all(msg.startswith(f"broker unreachable at 127.0.0.1:{port} (") for msg in said), said
    assert [msg.rsplit("trying again in ", 1)[1] for msg in said[:3]] == ["1 s", "2 s", "4 s"][: len(said[:3])]
    assert WRONG_PASSWORD not in json_lines.text + answer.text
