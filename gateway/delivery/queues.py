"""The state of the delivery queues per destination, as operators see it (API and dashboard alike):
deliveries per state, the oldest one still waiting, failures in the last 24 hours, circuit and pause."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.clock import as_utc
from gateway.db.models import Delivery, DeliveryAttempt, DeliveryState, DestinationState

S = DeliveryState
WAITING = (S.PENDING.value, S.SENDING.value, S.DELIVERED.value)


@dataclass
class DestinationRow:
    name: str
    states: dict[str, int]
    circuit: str
    paused: bool
    paused_reason: str | None
    oldest_waiting: timedelta | None
    failures_24h: int

    @property
    def failing(self) -> bool:
        return self.circuit != "closed" or self.paused or self.states.get(S.DEAD.value, 0) > 0 or self.failures_24h > 0


def destinations(
    session: Session, configured: list[str], circuits: dict[str, str], now: datetime
) -> list[DestinationRow]:
    counts = session.execute(
        select(Delivery.destination, Delivery.state, func.count()).group_by(Delivery.destination, Delivery.state)
    ).all()
    oldest = dict(
        session.execute(
            select(Delivery.destination, func.min(Delivery.created_at))
            .where(Delivery.state.in_(WAITING))
            .group_by(Delivery.destination)
        ).all()
    )
    since = now - timedelta(hours=24)
    failures = dict(
        session.execute(
            select(Delivery.destination, func.count())
            .join(DeliveryAttempt, DeliveryAttempt.delivery_id == Delivery.id)
            .where(DeliveryAttempt.started_at >= since, DeliveryAttempt.outcome != "ok")
            .group_by(Delivery.destination)
        ).all()
    )
    paused = {s.name: s for s in session.scalars(select(DestinationState))}
    per: dict[str, dict[str, int]] = {name: {} for name in configured}
    for destination, state, count in counts:
        per.setdefault(destination, {})[state] = count
    return [
        DestinationRow(
            name=name,
            states=states,
            circuit=circuits.get(name, "closed"),
            paused=bool(name in paused and paused[name].paused),
            paused_reason=paused[name].reason if name in paused and paused[name].paused else None,
            oldest_waiting=(now - as_utc(oldest[name])) if name in oldest else None,
            failures_24h=int(failures.get(name, 0)),
        )
        for name, states in sorted(per.items())
    ]
