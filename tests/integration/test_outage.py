"""Outage: the receiver is down while 500 packets queue. The circuit opens so attempts stop piling
up; nothing goes dead; when the receiver returns, everything drains, earliest deadline first."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from gateway.db.models import Delivery
from gateway.delivery.circuit import CircuitState
from gateway.sim.faults import FaultPlan
from gateway.worker import Worker
from tests.conftest import GatewayFactory, SimFactory, national_destination
from tests.support.packets import store_packets

PACKETS = 500


@pytest.mark.slow
def test_outage_opens_the_circuit_and_drains_in_deadline_order(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str
) -> None:
    sim = sim_factory(FaultPlan(down=True))
    gw = gateway_factory(
        database_url=database_url,
        destinations={
            "national": national_destination(
                sim.receive_url, max_attempts=10, circuit_threshold=5, circuit_cool_down=1.0
            )
        },
    )
    # Stored oldest-first with the *latest* deadlines first, so FIFO order and deadline order disagree.
    packet_ids, delivery_ids = store_packets(gw, PACKETS, deadline_spread=True)
    gw.publish(delivery_ids)
    stop = threading.Event()
    worker = Worker(gw, worker_id="outage", concurrency=4)
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        time.sleep(4.0)  # the outage
        with gw.sessions() as s:
            attempts = s.scalar(select(func.sum(Delivery.attempts))) or 0
            states = {k: v for k, v in s.execute(select(Delivery.state, func.count()).group_by(Delivery.state))}
        assert gw.circuits.state("national") in (CircuitState.OPEN, CircuitState.HALF_OPEN)
        # 5 failures open it; then about one probe per cool-down second: nowhere near 500 attempts.
        assert attempts <= 5 + 4 + 8, attempts
        assert sim.stats["requests"] == attempts
        assert states.get("dead", 0) == 0 and states.get("acknowledged", 0) == 0

        sim.set_faults(FaultPlan())  # the receiver is back
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with gw.sessions() as s:
                done = s.scalar(select(func.count()).where(Delivery.state == "acknowledged"))
            if done == PACKETS:
                break
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert done == PACKETS
    assert gw.circuits.state("national") is CircuitState.CLOSED
    # Deadline order: packet i has the (PACKETS - i)-th earliest deadline. The first hundred to
    # arrive must come from the hundred-and-fifty earliest deadlines (FIFO would send the latest).
    rank = {pid: PACKETS - i for i, pid in enumerate(packet_ids)}
    arrivals = list(dict.fromkeys(sim.app.state.stats.arrivals))
    assert len(arrivals) == PACKETS
    assert max(rank[p] for p in arrivals[:100]) <= 150, [rank[p] for p in arrivals[:100]]
