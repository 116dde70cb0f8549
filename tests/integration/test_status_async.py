"""Receivers that acknowledge later: by calling our intake back (twice, late) or by being polled."""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select

from gateway.api.app import create_app
from gateway.bootstrap import Gateway
from gateway.db.models import AuditEvent, Delivery, StatusReceipt
from gateway.sim.faults import FaultPlan
from gateway.sim.national import STATUS_PATH
from gateway.sim.server import BackgroundServer
from gateway.worker import Worker
from tests.conftest import GatewayFactory, SimFactory, national_destination
from tests.support.api import client_token
from tests.support.packets import store_packets


def wait_for_state(gw: Gateway, delivery_id: int, state: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        with gw.sessions() as s:
            current = s.scalar(select(Delivery.state).where(Delivery.id == delivery_id))
        if current == state or time.monotonic() > deadline:
            return str(current)
        time.sleep(0.05)


def test_late_duplicate_callbacks_acknowledge_once(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str
) -> None:
    sim = sim_factory(FaultPlan())
    gw = gateway_factory(database_url=database_url, destinations={"national": national_destination(sim.receive_url)})
    app = create_app(gw)
    with BackgroundServer(app) as api:
        sim.set_faults(
            FaultPlan(
                ack="async",
                callback_url=f"{api.url}/v1/intake/status",
                callback_token=client_token(gw, app, "receiver"),
                ack_delay=0.5,
                duplicate_ack=True,
            )
        )
        _, (delivery_id,) = store_packets(gw, 1)
        assert gw.delivery_service("w").attempt(delivery_id).outcome == "delivered"  # 202, no status yet
        assert wait_for_state(gw, delivery_id, "acknowledged") == "acknowledged"
        deadline = time.monotonic() + 5
        while sim.stats["faults"].get("callback", 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert sim.stats["faults"]["callback"] == 2  # the receiver said it twice...
    with gw.sessions() as s:
        assert s.scalar(select(func.count()).select_from(StatusReceipt)) == 1  # ...we took it in once
        acks = s.scalar(select(func.count()).where(AuditEvent.action == "delivery.acknowledged"))
        assert acks == 1


def test_status_is_polled_from_receivers_that_cannot_call_back(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str
) -> None:
    sim = sim_factory(FaultPlan(ack="async"))
    dest = national_destination(sim.receive_url).model_copy(
        update={"status_url": sim.url + STATUS_PATH, "status_poll_after": 0.2}
    )
    gw = gateway_factory(database_url=database_url, destinations={"national": dest})
    _, ids = store_packets(gw, 3)
    stop = threading.Event()
    thread = threading.Thread(target=Worker(gw, worker_id="poller").run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert [wait_for_state(gw, i, "acknowledged") for i in ids] == ["acknowledged"] * 3
    finally:
        stop.set()
        thread.join(timeout=20)
