"""Each retry rule, over real loopback HTTP: resets, slow bodies, planned downtime with Retry-After,
jitter bounds between attempts, and the circuit breaker's states."""

from __future__ import annotations

import itertools
import time
from typing import Any

from sqlalchemy import select

from gateway.bootstrap import Gateway
from gateway.db.models import Delivery, DeliveryAttempt
from gateway.delivery.circuit import CircuitState
from gateway.delivery.service import DeliveryService
from gateway.sim.faults import FaultPlan
from tests.conftest import GatewayFactory, Sim, SimFactory, national_destination
from tests.integration.test_delivery_http import drive
from tests.support.packets import store_packets


def one(
    gateway_factory: GatewayFactory, sim: Sim, database_url: str, **dest: Any
) -> tuple[Gateway, DeliveryService, int]:
    gw = gateway_factory(
        database_url=database_url, destinations={"national": national_destination(sim.receive_url, **dest)}
    )
    _, (delivery_id,) = store_packets(gw, 1)
    return gw, gw.delivery_service("rules"), delivery_id


def attempt_rows(gw: Gateway, delivery_id: int) -> list[DeliveryAttempt]:
    with gw.sessions() as s:
        return list(
            s.scalars(
                select(DeliveryAttempt)
                .where(DeliveryAttempt.delivery_id == delivery_id)
                .order_by(DeliveryAttempt.number)
            )
        )


def test_connection_reset_mid_answer_is_retried(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str
) -> None:
    sim = sim_factory(FaultPlan(script=("reset", "ok")))
    gw, service, did = one(gateway_factory, sim, database_url)
    assert [r.outcome for r in drive(service, did)] == ["retry", "acknowledged"]
    first = attempt_rows(gw, did)[0]
    assert first.http_status is None and "transport error" in (first.error or "")
    assert sim.stats["unique_packets"] == 1 and sim.stats["received_total"] == 2  # deduplicated by the receiver


def test_slow_body_within_the_timeout_is_fine_beyond_it_is_retried(
    gateway_factory: GatewayFactory,
    sim_factory: SimFactory,
    database_url: str,
) -> None:
    sim = sim_factory(FaultPlan(script=("slow", "slow", "ok"), slow_seconds=0.4))
    gw, service, did = one(gateway_factory, sim, database_url, timeout=1.0)
    gw.connectors["national"].settings.total_timeout = 1.0  # type: ignore[attr-defined]
    assert [r.outcome for r in drive(service, did)] == ["acknowledged"]
    sim.set_faults(FaultPlan(script=("slow", "ok"), slow_seconds=2.0))  # each piece in time, the whole too slow
    _, (second,) = store_packets(gw, 1)
    assert [r.outcome for r in drive(service, second)] == ["retry", "acknowledged"]


def test_planned_downtime_answers_retry_after_until_the_window_ends(
    gateway_factory: GatewayFactory,
    sim_factory: SimFactory,
    database_url: str,
) -> None:
    now = time.time()
    sim = sim_factory(FaultPlan(down_windows=((now - 1, now + 1.5),)))
    _gw, service, did = one(gateway_factory, sim, database_url)
    first = service.attempt(did)
    assert first.outcome == "retry" and 1.0 <= first.wait <= 3.0  # the receiver's Retry-After, not our backoff
    time.sleep(first.wait + 0.05)
    assert service.attempt(did).outcome == "acknowledged"


def test_backoff_waits_stay_within_full_jitter_bounds(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str
) -> None:
    sim = sim_factory(FaultPlan(script=("503",) * 5 + ("ok",)))
    gw, service, did = one(
        gateway_factory, sim, database_url, initial_wait=0.1, max_wait=0.4, max_attempts=10, circuit_threshold=100
    )
    results = drive(service, did)
    assert [r.outcome for r in results] == ["retry"] * 5 + ["acknowledged"]
    for n, r in enumerate(results[:5], start=1):
        assert 0 <= r.wait <= min(0.4, 0.1 * 2 ** (n - 1)) + 1e-9, (n, r.wait)
    rows = attempt_rows(gw, did)
    gaps = [(b.started_at - a.started_at).total_seconds() for a, b in itertools.pairwise(rows)]
    assert all(gap >= r.wait - 0.02 for gap, r in zip(gaps, results, strict=False))  # never earlier than planned


def test_circuit_opens_probes_half_open_and_closes(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str
) -> None:
    sim = sim_factory(FaultPlan(down=True))
    gw, service, did = one(
        gateway_factory,
        sim,
        database_url,
        circuit_threshold=3,
        circuit_cool_down=0.5,
        max_attempts=20,
        initial_wait=0.01,
        max_wait=0.01,
    )
    for _ in range(3):
        assert service.attempt(did).outcome == "retry"
        time.sleep(0.03)
    assert gw.circuits.state("national") is CircuitState.OPEN
    requests = sim.stats["requests"]
    deferred = service.attempt(did)
    assert deferred.outcome == "deferred" and 0 < deferred.wait <= 0.5
    assert sim.stats["requests"] == requests  # an open circuit sends nothing
    assert service.attempt_next(frozenset({"national"})) is None  # and the worker does not even claim
    time.sleep(0.55)
    assert gw.circuits.state("national") is CircuitState.HALF_OPEN
    assert service.attempt(did).outcome == "retry"  # the probe fails: open again
    assert gw.circuits.state("national") is CircuitState.OPEN
    sim.set_faults(FaultPlan())
    time.sleep(0.55)
    assert service.attempt(did).outcome == "acknowledged"  # the probe succeeds: closed
    assert gw.circuits.state("national") is CircuitState.CLOSED
    with gw.sessions() as s:
        d = s.get(Delivery, did)
        assert d is not None and d.attempts == 5  # deferrals cost no attempt
