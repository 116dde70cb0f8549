"""The state of the delivery queues per destination, as operators see it (API and dashboard alike):
deliveries per state, the oldest one still waiting, failures in the last 24 hours, circuit and pause.

A destination is *failing* for what is true now, each with its reason: the circuit is open (or
probing), it is paused, dead deliveries or deliveries the receiver rejected (its status packet said
TU_CHOI: the packet went through and was refused) wait for an operator, or attempts failed in the last
``FAILING_WINDOW`` with no successful attempt since. A 503 that was retried and followed by
acknowledgements is history (``failures_24h``), not a current failure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.clock import as_utc
from gateway.db.models import Delivery, DeliveryAttempt, DeliveryState, DestinationState

S = DeliveryState
WAITING = (S.PENDING.value, S.SENDING.value, S.DELIVERED.value)
FAILING_WINDOW = timedelta(minutes=15)


@dataclass
class DestinationRow:
    name: str
    states: dict[str, int]
    circuit: str
    paused: bool
    paused_reason: str | None
    oldest_waiting: timedelta | None
    failures_24h: int
    recent_failures: int = 0  # failed attempts in the window, after the last successful one
    window_minutes: int = int(FAILING_WINDOW.total_seconds() // 60)

    @property
    def reasons(self) -> list[tuple[str, dict[str, object]]]:
        """Why the destination is failing now, as message keys and their values (empty: healthy)."""
        found: list[tuple[str, dict[str, object]]] = []
        if self.circuit != "closed":
            found.append((f"failing_circuit_{self.circuit}", {}))
        if self.paused:
            found.append(("failing_paused", {"reason": self.paused_reason or ""}))
        dead = self.states.get(S.DEAD.value, 0)
        if dead:
            found.append(("failing_dead", {"count": dead}))
        rejected = self.states.get(S.REJECTED.value, 0)
        if rejected:  # the POST succeeded, so no failed attempt shows it: the receiver's verdict does
            found.append(("failing_rejected", {"count": rejected}))
        if self.recent_failures:
            found.append(("failing_recent", {"count": self.recent_failures, "minutes": self.window_minutes}))
        return found

    @property
    def failing(self) -> bool:
        return bool(self.reasons)


def destinations(
    session: Session,
    configured: list[str],
    circuits: dict[str, str],
    now: datetime,
    window: timedelta = FAILING_WINDOW,
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
    recent = _recent_failures(session, as_utc(now) - window)
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
            recent_failures=recent.get(name, 0),
            window_minutes=int(window.total_seconds() // 60),
        )
        for name, states in sorted(per.items())
    ]


def _recent_failures(session: Session, since: datetime) -> dict[str, int]:
    """Per destination, failed attempts since ``since`` that no successful attempt followed."""
    last_ok = dict(
        session.execute(
            select(Delivery.destination, func.max(DeliveryAttempt.started_at))
            .join(DeliveryAttempt, DeliveryAttempt.delivery_id == Delivery.id)
            .where(DeliveryAttempt.started_at >= since, DeliveryAttempt.outcome == "ok")
            .group_by(Delivery.destination)
        ).all()
    )
    failed = session.execute(
        select(Delivery.destination, DeliveryAttempt.started_at)
        .join(DeliveryAttempt, DeliveryAttempt.delivery_id == Delivery.id)
        .where(DeliveryAttempt.started_at >= since, DeliveryAttempt.outcome != "ok")
    ).all()
    found: dict[str, int] = {}
    for destination, started in failed:
        ok = last_ok.get(destination)
        if ok is None or as_utc(started) > as_utc(ok):
            found[destination] = found.get(destination, 0) + 1
    return found
