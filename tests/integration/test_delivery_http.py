"""Delivery attempts over real loopback HTTP to the national simulator, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable

from gateway.bootstrap import Gateway
from gateway.db.models import Delivery
from gateway.delivery.circuit import CircuitPolicy
from gateway.delivery.service import AttemptResult, DeliveryService
from gateway.sim.faults import FaultPlan
from tests.conftest import GatewayFactory, Sim, SimFactory, national_destination
from tests.support.packets import store_packets


def drive(service: DeliveryService, delivery_id: int, timeout: float = 20.0) -> list[AttemptResult]:
    """Attempt until a final outcome, waiting out each retry delay as a worker's sweeper would."""
    results: list[AttemptResult] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = service.attempt(delivery_id)
        results.append(result)
        if result.outcome == "retry":
            time.sleep(result.wait + 0.01)
            continue
        if result.outcome in ("claimed-elsewhere", "deferred"):
            time.sleep(0.05)
            continue
        return results
    raise AssertionError(f"delivery {delivery_id} not final after {timeout} s: {results}")


def setup(
    gateway_factory: Callable[..., Gateway],
    sim_factory: Callable[[FaultPlan], Sim],
    database_url: str,
    plan: FaultPlan,
    **retry: float,
) -> tuple[Gateway, Sim, DeliveryService, int, str]:
    sim = sim_factory(plan)
    gw = gateway_factory(
        database_url=database_url, destinations={"national": national_destination(sim.receive_url, **retry)}
    )
    packet_ids, delivery_ids = store_packets(gw, 1)
    return gw, sim, gw.delivery_service("test"), delivery_ids[0], packet_ids[0]


def attempts(gw: Gateway, delivery_id: int) -> tuple[Delivery, list[tuple[int | None, str]]]:
    with gw.sessions() as s:
        d = s.get(Delivery, delivery_id)
        assert d is not None
        return d, [(a.http_status, a.outcome) for a in d.attempt_log]


def test_503_is_retried_then_acknowledged(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str
) -> None:
    gw, sim, service, did, _pid = setup(
        gateway_factory, sim_factory, database_url, FaultPlan(script=("503", "503", "ok"))
    )
    outcomes = [r.outcome for r in drive(service, did)]
    assert outcomes == ["retry", "retry", "acknowledged"]
    d, log = attempts(gw, did)
    assert d.state == "acknowledged" and d.ack_status == "DA_TIEP_NHAN"
    assert log == [(503, "TransientDeliveryError"), (503, "TransientDeliveryError"), (200, "ok")]
    assert sim.stats["received_total"] == 1


def test_retry_after_is_waited_out(gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str) -> None:
    gw, _sim, service, did, _ = setup(
        gateway_factory, sim_factory, database_url, FaultPlan(script=("429", "ok"), retry_after=1)
    )
    first = service.attempt(did)
    assert first.outcome == "retry" and first.wait == 1.0
    # Not due yet: a second attempt right now must not go out.
    assert service.attempt(did).outcome == "claimed-elsewhere"
    time.sleep(1.05)
    assert service.attempt(did).outcome == "acknowledged"
    with gw.sessions() as s:
        d = s.get(Delivery, did)
        assert d is not None
        started = [a.started_at for a in d.attempt_log]
        assert d.attempt_log[0].retry_after == 1.0
    assert (started[1] - started[0]).total_seconds() >= 1.0


def test_timeout_is_retried_and_the_receiver_deduplicates(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str
) -> None:
    _gw, sim, service, did, pid = setup(
        gateway_factory, sim_factory, database_url, FaultPlan(script=("timeout", "ok"), hang_seconds=1.0), timeout=0.3
    )
    assert [r.outcome for r in drive(service, did)] == ["retry", "acknowledged"]
    time.sleep(1.0)  # let the slow first request finish on the simulator
    received = sim.app.state.stats.received
    assert received[pid] == 2 and sim.stats["unique_packets"] == 1
    assert sim.app.state.stats.idempotency_keys[pid] == {f"{pid}:national"}  # same key on every attempt


def test_other_4xx_rejects_at_once(gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str) -> None:
    gw, _, service, did, _ = setup(gateway_factory, sim_factory, database_url, FaultPlan(script=("400",)))
    assert [r.outcome for r in drive(service, did)] == ["rejected"]
    d, _log = attempts(gw, did)
    assert d.state == "rejected" and "simulated refusal" in (d.last_error or "")


def test_return_with_reason_is_recorded(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str
) -> None:
    gw, _, service, did, _ = setup(gateway_factory, sim_factory, database_url, FaultPlan(script=("return",)))
    assert [r.outcome for r in drive(service, did)] == ["returned"]
    d, _ = attempts(gw, did)
    assert d.state == "returned" and d.ack_status == "TRA_LAI" and "kiểm tra lại" in (d.ack_reason or "")


def test_exhausted_retries_go_dead_and_replay_delivers(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str
) -> None:
    _gw, sim, service, did, _ = setup(gateway_factory, sim_factory, database_url, FaultPlan(down=True), max_attempts=3)
    service.circuits.policies["national"] = CircuitPolicy(threshold=100)  # about attempts, not the circuit
    assert [r.outcome for r in drive(service, did)] == ["retry", "retry", "dead"]
    sim.set_faults(FaultPlan())
    assert service.replay([did], actor="operator:test") == [did]
    assert [r.outcome for r in drive(service, did)] == ["acknowledged"]
