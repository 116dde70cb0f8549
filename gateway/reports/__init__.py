"""Reports: turn stored observations into ``SO_LIEU_BAO_CAO`` packets, one per regime × form × period
× reporting unit, and put them in the outbox with their deliveries, in one transaction.
"""

from __future__ import annotations

import json
import typing
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol

from sqlalchemy import ARRAY, ColumnElement, Integer, String, Table, any_, bindparam, cast, select, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from gateway.calendar.regimes import RegimeDef, regime_path, run_for
from gateway.clock import VN_TZ, Clock
from gateway.db.models import Observation, Packet
from gateway.ingest_runs import visible_observation
from gateway.packets import model as m
from gateway.packets.validate import gc_paused
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
    cuts: dict[str, Cut] = {}  # per distinct disaggregation text, shared by its rows (never mutated)
    for form, key, unit in keys:
        with gc_paused():  # tens of thousands of rows and figures: no collector passes over them meanwhile
            report = [Observation.form_code == form, Observation.period_key == key, Observation.reporting_unit == unit]
            observations = _rows(session, [*unsent, *report], cuts)
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
            del observations
    return built


class Observed(Protocol):
    """What building a report reads of an observation: an ORM ``Observation`` (a correction) or an
    ``ObservationRow`` (the scheduler's build)."""

    @property
    def id(self) -> int: ...
    @property
    def indicator_code(self) -> str: ...
    @property
    def column_code(self) -> str | None: ...
    @property
    def disaggregation(self) -> list[list[str]]: ...
    @property
    def value(self) -> str: ...
    @property
    def unit(self) -> str: ...
    @property
    def mapping_version(self) -> str: ...


class ObservationRow(NamedTuple):
    """An observation as a report's build reads it: a plain row, no ORM identity or instrumentation
    (loading 30,000 ORM objects per report cost more than building the packet; issue 19). ``cut`` and
    ``figure_cut`` are the disaggregation as a hashable key and as the packet's dicts, shared by every
    row of the same disaggregation."""

    id: int
    indicator_code: str
    column_code: str | None
    disaggregation: list[list[str]]
    value: str
    unit: str
    mapping_version: str
    cut: tuple[tuple[str, ...], ...]
    figure_cut: list[dict[str, str]]


Cut = tuple[list[list[str]], tuple[tuple[str, ...], ...], list[dict[str, str]]]
"""A disaggregation as stored, as a hashable key, and as the packet's dicts."""

ROW_COLUMNS = (
    Observation.id,
    Observation.indicator_code,
    Observation.column_code,
    cast(Observation.disaggregation, String),  # the JSON text: decoded once per distinct text
    Observation.value,
    Observation.unit,
    Observation.mapping_version,
)


def _rows(
    session: Session,
    where: list[ColumnElement[bool]],
    cuts: dict[str, Cut],
) -> list[ObservationRow]:
    """One report's observations as rows, in the order the packet lists them (indicator, then id)."""
    query = select(*ROW_COLUMNS).where(*where).order_by(Observation.indicator_code, Observation.id)
    rows = []
    for id_, indicator, column, text, value, unit, version in session.connection().execute(query):
        found = cuts.get(text)
        if found is None:
            pairs = json.loads(text) if text else []
            found = cuts[text] = (
                pairs,
                tuple(tuple(p) for p in pairs),
                [{"dimension": d, "value_code": v} for d, v in pairs],
            )
        rows.append(ObservationRow(id_, indicator, column, found[0], value, unit, version, found[1], found[2]))
    return rows


LINK_CHUNK = 5000  # ids per UPDATE: under SQLite's bound-parameter limit, few statements per report
OBSERVATIONS = typing.cast(Table, Observation.__table__)


def link_ids(session: Session, ids: list[int], packet_id: str) -> None:
    """Point observations at their packet with one UPDATE per ``LINK_CHUNK`` ids, not an ORM update
    per observation (issue 19); a Core statement on the session's connection (the ORM's bulk update
    machinery cost as much as the UPDATE)."""
    conn = session.connection()
    name = conn.dialect.name
    for start in range(0, len(ids), LINK_CHUNK):
        chunk = ids[start : start + LINK_CHUNK]
        if name == "sqlite":  # the driver's own statement: SQLAlchemy expanded the IN list in Python
            marks = ",".join("?" * len(chunk))  # placeholders only: the ids are parameters
            statement = f"UPDATE observations SET packet_id = ? WHERE id IN ({marks})"  # noqa: S608
            conn.exec_driver_sql(statement, (packet_id, *chunk))
        elif name == "postgresql":
            conn.execute(
                update(OBSERVATIONS).where(OBSERVATIONS.c.id == any_(bindparam("ids", chunk, type_=ARRAY(Integer)))),
                {"packet_id": packet_id},
            )
        else:
            conn.execute(update(OBSERVATIONS).where(OBSERVATIONS.c.id.in_(chunk)).values(packet_id=packet_id))


def _link(session: Session, observations: Sequence[Observed], packet_id: str) -> None:
    """``link_ids`` for loaded observations; ORM objects in memory show the link too."""
    link_ids(session, [o.id for o in observations], packet_id)
    for obs in observations:
        if isinstance(obs, Observation):
            set_committed_value(obs, "packet_id", packet_id)


def _latest_by_key(observations: Sequence[Observed]) -> list[Observed]:
    """When a source was read twice, the latest observation of each value wins (no duplicate SoLieu)."""
    latest: dict[tuple[str, str, object], Observed] = {}
    for obs in observations:
        cut = obs.cut if isinstance(obs, ObservationRow) else tuple(tuple(p) for p in obs.disaggregation)
        key = (obs.indicator_code, obs.column_code or "", cut)
        if key not in latest or obs.id > latest[key].id:
            latest[key] = obs
    return sorted(latest.values(), key=lambda o: o.id)


def _figure_cut(obs: Observed) -> list[dict[str, str]]:
    if isinstance(obs, ObservationRow):
        return obs.figure_cut
    return [{"dimension": d, "value_code": v} for d, v in obs.disaggregation]


def build_report(
    session: Session,
    regime: RegimeDef,
    form: str,
    period_key: str,
    unit_code: str,
    observations: Sequence[Observed],
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
                    "disaggregation": _figure_cut(o),
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
