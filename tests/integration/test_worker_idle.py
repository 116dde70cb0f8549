"""What an idle worker costs, and that the cheaper idling still finds and spreads work.

An idle node used to ask the embedded broker twice per 50 ms loop (each ask a queue lookup and a
write transaction on SQLite) and start ``concurrency`` claims at every sweep: 12 % of a core doing
nothing. Counted here by wrapping the real transport's ask and the real claim, not by timing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from kombu.transport import sqlalchemy as kombu_sqlalchemy
from sqlalchemy import func, select

from gateway.bootstrap import Gateway
from gateway.db.models import Delivery
from gateway.worker import Worker
from tests.conftest import GatewayFactory, SimFactory, national_destination
from tests.support.packets import store_packets

POLLING = 0.1
SWEEP = 0.25
SECONDS = 2.0


def _counting(calls: list[float], inner: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(time.monotonic())
        return inner(*args, **kwargs)

    return wrapper


def _run(worker: Worker, seconds: float) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    time.sleep(seconds)
    stop.set()
    thread.join(timeout=20)
    assert not thread.is_alive()


def _idle_gateway(gateway_factory: GatewayFactory, sim_url: str) -> Gateway:
    gw = gateway_factory(destinations={"national": national_destination(sim_url)}, worker={"sweep_interval": SWEEP})
    gw.settings.broker.polling_interval = POLLING
    gw.broker.polling_interval = POLLING
    return gw


def test_an_idle_worker_asks_the_embedded_broker_once_per_polling_interval(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = sim_factory()
    gw = _idle_gateway(gateway_factory, sim.receive_url)
    asks: list[float] = []
    monkeypatch.setattr(kombu_sqlalchemy.Channel, "_get", _counting(asks, kombu_sqlalchemy.Channel._get))
    worker = Worker(gw, worker_id="idle")
    claims: list[float] = []
    monkeypatch.setattr(worker.service, "attempt_batch", _counting(claims, worker.service.attempt_batch))

    _run(worker, SECONDS)

    assert asks, "the worker never asked the broker"
    assert len(asks) <= SECONDS / POLLING + 3, f"{len(asks)} asks in {SECONDS} s"
    assert claims, "the sweep never looked at SQL"
    assert len(claims) <= SECONDS / SWEEP + 2, f"{len(claims)} claims in {SECONDS} s"


def test_work_found_by_a_sweep_still_runs_on_every_slot(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No wake-up is published: only the sweep's single probe can find the deliveries, and the probe
    that finds them must start the other drain jobs."""
    sim = sim_factory()
    gw = _idle_gateway(gateway_factory, sim.receive_url)
    gw.settings.worker.batch_size = 1
    _, delivery_ids = store_packets(gw, 24)
    worker = Worker(gw, worker_id="backlog")
    worker.batch_size = 1
    inner = worker.service.attempt_batch
    lock = threading.Lock()
    running = [0]
    peak = [0]

    def slow_claim(*args: Any, **kwargs: Any) -> Any:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            time.sleep(0.1)  # long enough that claims overlap when jobs run side by side
            return inner(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(worker.service, "attempt_batch", slow_claim)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with gw.sessions() as s:
                done = s.scalar(select(func.count()).where(Delivery.state == "acknowledged"))
            if done == len(delivery_ids):
                break
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(timeout=20)
    assert done == len(delivery_ids)
    assert peak[0] == worker.concurrency, f"at most {peak[0]} of {worker.concurrency} slots ran"
