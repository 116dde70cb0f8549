"""Reports: turn stored observations into ``SO_LIEU_BAO_CAO`` packets, one per regime × form × period
× reporting unit, and put them in the outbox with their deliveries, in one transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from gateway.calendar.regimes import RegimeDef, regime_path, run_for
from gateway.clock import VN_TZ, Clock
from gateway.db.models import Observation, Packet
from gateway.ingest_runs import visible_observation
from gateway.packets import model as m
from gateway.reports.queue import due_at, queue
from gateway.reports.routing import check_routes
from gateway.settings import DestinationSettings, UnitSettings
from gateway.signing.seal import Sealer


@dataclass(frozen=True)
class BuiltPacket:
    packet_id: str
    delivery_ids: list[int]
    values: int


def build_reports(
    sessions: sessionmaker[Session],
    regime: RegimeDef,
    *,
    sender: UnitSettings,
    destinations: dict[str, DestinationSettings],
    sealer: Sealer,
    clock: Clock,
    fmt: Literal["json", "xml"] | None = None,
    actor: str = "system",
    period_key: str | None = None,
) -> list[BuiltPacket]:
    """Build one packet per report from observations not yet in a packet; store packets + deliveries
    in one transaction. The caller publishes the wake-ups after it returns."""
    with sessions.begin() as session:
        return build_in_session(
            session,
            regime,
            sender=sender,
            destinations=destinations,
            sealer=sealer,
            clock=clock,
            fmt=fmt,
            actor=actor,
            period_key=period_key,
        )


def build_in_session(
    session: Session,
    regime: RegimeDef,
    *,
    sender: UnitSettings,
    destinations: dict[str, DestinationSettings],
    sealer: Sealer,
    clock: Clock,
    fmt: Literal["json", "xml"] | None = None,
    actor: str = "system",
    period_key: str | None = None,
) -> list[BuiltPacket]:
    """As ``build_reports``, inside the caller's transaction (the scheduler records its run with it)."""
    unsent = [Observation.regime_code == regime.code, Observation.packet_id.is_(None), visible_observation()]
    if period_key is not None:
        unsent.append(Observation.period_key == period_key)
    # Streamed by report key (issue 19): the keys first, then one report's observations at a time, so
    # memory holds one report, not every unsent observation of the regime (3 GB for the national load).
    keys = session.execute(
        select(Observation.form_code, Observation.period_key, Observation.reporting_unit)
        .where(*unsent)
        .distinct()
        .order_by(Observation.form_code, Observation.period_key, Observation.reporting_unit)
    ).all()
    built = []
    for form, key, unit in keys:
        observations = list(
            session.scalars(
                select(Observation)
                .where(
                    *unsent,
                    Observation.form_code == form,
                    Observation.period_key == key,
                    Observation.reporting_unit == unit,
                )
                .order_by(Observation.indicator_code, Observation.id)
            )
        )
        built.append(
            build_report(
                session,
                regime,
                form,
                key,
                unit,
                observations,
                sender=sender,
                destinations=destinations,
                sealer=sealer,
                clock=clock,
                fmt=fmt,
                actor=actor,
            )
        )
    return built


LINK_CHUNK = 5000  # ids per UPDATE: under SQLite's bound-parameter limit, few statements per report


def link_ids(session: Session, ids: list[int], packet_id: str) -> None:
    """Point observations at their packet with one UPDATE per ``LINK_CHUNK`` ids, not an ORM update
    per observation (issue 19)."""
    for start in range(0, len(ids), LINK_CHUNK):
        session.execute(
            update(Observation).where(Observation.id.in_(ids[start : start + LINK_CHUNK])).values(packet_id=packet_id),
            execution_options={"synchronize_session": False},
        )


def _link(session: Session, observations: list[Observation], packet_id: str) -> None:
    """``link_ids`` for loaded observations; the objects in memory show the link too."""
    link_ids(session, [o.id for o in observations], packet_id)
    for obs in observations:
        set_committed_value(obs, "packet_id", packet_id)


def _latest_by_key(observations: list[Observation]) -> list[Observation]:
    """When a source was read twice, the latest observation of each value wins (no duplicate SoLieu)."""
    latest: dict[tuple[str, str, str], Observation] = {}
    for obs in observations:
        key = (obs.indicator_code, obs.column_code or "", repr(obs.disaggregation))
        if key not in latest or obs.id > latest[key].id:
            latest[key] = obs
    return sorted(latest.values(), key=lambda o: o.id)


def build_report(
    session: Session,
    regime: RegimeDef,
    form: str,
    period_key: str,
    unit_code: str,
    observations: list[Observation],
    *,
    sender: UnitSettings,
    destinations: dict[str, DestinationSettings],
    sealer: Sealer,
    clock: Clock,
    fmt: Literal["json", "xml"] | None,
    actor: str,
    route: list[str] | None = None,
) -> BuiltPacket:
    """One canonical report, serialised and signed per destination (``fmt`` None: each destination's
    ``format``; given: that format for all). ``route`` overrides the regime's destinations (a correction
    goes where the revision it corrects went)."""
    now = clock.now()
    run = run_for(regime, period_key)
    period = run.period
    previous = session.execute(
        select(Packet.revision)
        .where(
            Packet.packet_type == m.PacketType.SO_LIEU_BAO_CAO.value,
            Packet.regime_code == regime.code,
            Packet.form_code == form,
            Packet.period_key == period_key,
            Packet.reporting_unit == unit_code,
        )
        .order_by(Packet.revision.desc())
        .limit(1)
    ).scalar()
    revision = (previous or 0) + 1
    chosen = _latest_by_key(observations)
    targets = route or regime.destinations
    check_routes([(regime.code, targets, regime_path(regime.code))], destinations)
    receiver = destinations[targets[0]].receiver
    local_now = now.astimezone(VN_TZ)
    envelope = m.Envelope(
        packet_id=uuid.uuid4(),
        packet_type=m.PacketType.SO_LIEU_BAO_CAO,
        profile=sealer.profile.id,
        created_at=local_now,
        sender=m.Unit(code=sender.code, name=sender.name),
        receiver=m.Unit(code=receiver.code, name=receiver.name),
        body=m.ReportFigures(
            regime_code=regime.code,
            form_code=form,
            period=period,
            reporting_unit=m.Unit(code=unit_code, name=sender.name if unit_code == sender.code else unit_code),
            revision=revision,
            sent_at=local_now,
            figures=m.figures(
                {
                    "indicator_code": o.indicator_code,
                    "column_code": o.column_code,
                    "disaggregation": [{"dimension": d, "value_code": v} for d, v in o.disaggregation],
                    "value": o.value,
                    "unit": o.unit,
                }
                for o in chosen
            ),
        ),
    )
    due = due_at(run)
    if regime.approval.required:
        # Only approved reports are sealed and queued (gateway.reports.approval).
        from gateway.reports.approval import hold

        held = hold(
            session, envelope, regime, observations, value_count=len(chosen), deadline=due, actor=actor, now=now
        )
        return BuiltPacket(held.packet_id, [], len(chosen))
    packet, deliveries = queue(
        session,
        envelope,
        targets,
        destinations,
        sealer,
        fmt=fmt,
        now=now,
        value_count=len(chosen),
        mapping_version=chosen[0].mapping_version,
        deadline=due,
        actor=actor,
    )
    _link(session, observations, packet.id)
    return BuiltPacket(packet.id, [d.id for d in deliveries], len(chosen))
