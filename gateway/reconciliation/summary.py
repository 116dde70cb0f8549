"""The run summary the demo prints: every record read is accounted for, or counted as lost.

``lost`` = records read that are neither blank, nor quarantined, nor stored for a period no regime
sends (``never_sent``: counted at ingest and listed by ``gateway quarantine list``), nor in a packet
that reached a final, visible state at every destination (acknowledged; or dead/returned/rejected,
which wait for an operator in plain sight). A healthy run ends with ``lost = 0``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.coverage import unsent_outside
from gateway.db.models import (
    Delivery,
    DeliveryState,
    IngestRun,
    IngestState,
    Observation,
    ObservationLink,
    Packet,
    QuarantineRecord,
)
from gateway.ingest_runs import visible_observation, visible_quarantine

S = DeliveryState
VISIBLE_FINAL = (S.DEAD.value, S.RETURNED.value, S.REJECTED.value)


@dataclass(frozen=True)
class Summary:
    read: int
    blank: int
    mapped: int
    quarantined: int
    never_sent: int
    packets: int
    deliveries: int
    delivered: int
    acknowledged: int
    waiting: int
    needs_operator: int
    attempts: int
    retried: int
    lost: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def summarise(session: Session) -> Summary:
    read, blank, mapped, unchanged = session.execute(
        select(
            func.coalesce(func.sum(IngestRun.read), 0),
            func.coalesce(func.sum(IngestRun.blank), 0),
            func.coalesce(func.sum(IngestRun.mapped), 0),
            func.coalesce(func.sum(IngestRun.unchanged), 0),
        ).where(IngestRun.state == IngestState.COMPLETED.value)
    ).one()
    quarantined = session.scalar(select(func.count()).select_from(QuarantineRecord).where(visible_quarantine())) or 0
    packets = session.scalar(select(func.count()).select_from(Packet)) or 0
    by_state = dict(session.execute(select(Delivery.state, func.count()).group_by(Delivery.state)).all())
    attempts = session.scalar(select(func.coalesce(func.sum(Delivery.attempts), 0))) or 0
    deliveries = sum(by_state.values())
    acknowledged = by_state.get(S.ACKNOWLEDGED.value, 0)
    delivered = acknowledged + by_state.get(S.DELIVERED.value, 0) + by_state.get(S.RETURNED.value, 0)
    needs_operator = sum(by_state.get(s, 0) for s in VISIBLE_FINAL)
    waiting = by_state.get(S.PENDING.value, 0) + by_state.get(S.SENDING.value, 0) + by_state.get(S.DELIVERED.value, 0)
    # Observations whose packet has some delivery that is neither acknowledged nor visibly parked.
    unsettled_packets = select(Delivery.packet_id).where(
        Delivery.state.not_in([S.ACKNOWLEDGED.value, S.CANCELLED.value, *VISIBLE_FINAL])
    )
    unaccounted = (
        session.scalar(
            select(func.count())
            .select_from(Observation)
            .outerjoin(ObservationLink, ObservationLink.observation_id == Observation.id)
            .where(ObservationLink.packet_id.is_(None) | ObservationLink.packet_id.in_(unsettled_packets))
            .where(visible_observation())
        )
        or 0
    )
    # A value read again and equal to the stored one is accounted for by the stored one.
    stored = session.scalar(select(func.count()).select_from(Observation).where(visible_observation())) or 0
    accounted_rows = stored + int(unchanged) + quarantined + blank
    never_sent = sum(group.values for group in unsent_outside(session))
    lost = unaccounted - never_sent + max(0, int(read) - accounted_rows)
    return Summary(
        read=int(read),
        blank=int(blank),
        mapped=int(mapped),
        quarantined=int(quarantined),
        never_sent=int(never_sent),
        packets=int(packets),
        deliveries=deliveries,
        delivered=delivered,
        acknowledged=acknowledged,
        waiting=waiting,
        needs_operator=needs_operator,
        attempts=int(attempts),
        retried=max(0, int(attempts) - deliveries),
        lost=int(lost),
    )
