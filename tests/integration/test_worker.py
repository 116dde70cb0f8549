"""The worker end to end: outbox -> kombu wake-ups -> attempts -> acknowledgements, on every
database and broker pairing the gateway supports."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from gateway.bootstrap import Gateway
from gateway.db.models import Delivery
from gateway.sim.faults import FaultPlan
from gateway.worker import Worker
from tests.conftest import GatewayFactory, SimFactory, national_destination
from tests.support.packets import store_packets


def wait_until_final(gw: Gateway, total: int, timeout: float = 60.0) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        with gw.sessions() as s:
            states = dict(s.execute(select(Delivery.state, func.count()).group_by(Delivery.state)).all())
        if states.get("acknowledged", 0) == total or time.monotonic() > deadline:
            return states
        time.sleep(0.1)


@pytest.mark.parametrize("publish", [True, False], ids=["with-wake-ups", "wake-ups-lost"])
def test_worker_delivers_everything_exactly_once_after_dedup(
    gateway_factory: GatewayFactory,
    sim_factory: SimFactory,
    database_url: str,
    broker_url: str,
    publish: bool,
) -> None:
    sim = sim_factory(FaultPlan(script=("503", "429", "ok", "timeout"), p_503=0.1, retry_after=1, hang_seconds=1.0))
    gw = gateway_factory(
        database_url=database_url,
        broker_url=broker_url,
        destinations={"national": national_destination(sim.receive_url, timeout=0.5, max_attempts=20)},
    )
    packet_ids, delivery_ids = store_packets(gw, 25)
    if publish:
        gw.publish(delivery_ids)  # otherwise the sweeper alone must find them in SQL
    stop = threading.Event()
    worker = Worker(gw, worker_id="w1")
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        states = wait_until_final(gw, len(delivery_ids))
    finally:
        stop.set()
        thread.join(timeout=20)
    assert states == {"acknowledged": 25}
    time.sleep(1.0)  # late copies from the timed-out request land on the simulator
    received = sim.app.state.stats.received
    assert set(received) == set(packet_ids)  # every packet arrived
    assert sim.stats["unique_packets"] == 25  # and counts once after deduplication
    assert sim.stats["faults"].get("503", 0) >= 1 and sim.stats["faults"].get("429") == 1
