"""An attempt whose worker never reported (killed mid-request, or cut off from the database when it came
to write the outcome) is in the delivery's history as ``lost`` once another worker takes its lease over.
Before, the history went from nothing to "attempt 2" (found by the fault review): the request the
receiver logged had no trace here. Real HTTP to the simulator, both databases."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from gateway.clock import VN_TZ, FrozenClock
from gateway.db.models import Delivery, DeliveryAttempt
from gateway.sim.faults import FaultPlan
from tests.conftest import GatewayFactory, SimFactory, national_destination
from tests.support.packets import store_packets


def test_an_attempt_that_left_no_result_is_recorded_as_lost_when_its_lease_is_taken_over(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str
) -> None:
    sim = sim_factory(FaultPlan())
    clock = FrozenClock(datetime(2026, 10, 20, 9, tzinfo=VN_TZ))
    gw = gateway_factory(
        database_url=database_url, clock=clock, destinations={"national": national_destination(sim.receive_url)}
    )
    _, (first, second) = store_packets(gw, 2)
    killed = gw.delivery_service("worker-a")
    assert set(killed.claim_due(limit=2)) == {first, second}  # claimed, sent maybe; then the process died
    survivor = gw.delivery_service("worker-b")
    assert survivor.attempt_next() is None  # the lease holds: nothing is taken over early
    clock.advance(timedelta(seconds=gw.settings.worker.lease_seconds + 1))
    assert survivor.attempt(first).outcome == "acknowledged"  # one path: a given delivery
    taken = survivor.attempt_next()  # the other: the next due one
    assert taken is not None and (taken.delivery_id, taken.outcome) == (second, "acknowledged")
    with gw.sessions() as s:
        for delivery_id in (first, second):
            history = s.execute(
                select(DeliveryAttempt.number, DeliveryAttempt.outcome, DeliveryAttempt.worker)
                .where(DeliveryAttempt.delivery_id == delivery_id)
                .order_by(DeliveryAttempt.id)
            ).all()
            assert [tuple(h) for h in history] == [(1, "lost", "worker-a"), (2, "ok", "worker-b")], delivery_id
            lost = s.scalars(
                select(DeliveryAttempt.error).where(
                    DeliveryAttempt.delivery_id == delivery_id, DeliveryAttempt.outcome == "lost"
                )
            ).one()
            assert lost is not None and "reported no result before its lease ended" in lost
            assert s.get(Delivery, delivery_id).attempts == 2  # type: ignore[union-attr]
    assert survivor.attempt_next() is None  # and nothing is recorded twice
