"""What the dashboard pages show, read from SQL with bounded queries (every page stays fast with
100,000 deliveries: aggregates are grouped in the database, lists are keyset-paginated)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from gateway.clock import VN_TZ, as_utc
from gateway.dashboard.charts import Bar
from gateway.db.models import (
    AuditEvent,
    Delivery,
    DeliveryAttempt,
    DeliveryState,
    Observation,
    Packet,
    QuarantineRecord,
    StatusReceipt,
)
from gateway.ingest_runs import visible_observation, visible_quarantine

S = DeliveryState
PAGE = 50


def _bucket(session: Session, column: Any, unit: str) -> ColumnElement[str]:
    """The time bucket of ``column`` as text, in the database's own dialect (UTC)."""
    if session.get_bind().dialect.name == "postgresql":
        fmt = "YYYY-MM-DD HH24" if unit == "hour" else "YYYY-MM-DD"
        return func.to_char(func.timezone("UTC", column), fmt)
    return func.strftime("%Y-%m-%d %H" if unit == "hour" else "%Y-%m-%d", column)


def activity(session: Session, now: datetime, *, hours: int = 0, days: int = 0) -> list[Bar]:
    """Attempts per hour (or day) over the window, split into succeeded and failed."""
    unit = "hour" if hours else "day"
    span = timedelta(hours=hours) if hours else timedelta(days=days)
    start = as_utc(now) - span
    bucket = _bucket(session, DeliveryAttempt.started_at, unit)
    rows = session.execute(
        select(
            bucket,
            func.sum(case((DeliveryAttempt.outcome == "ok", 1), else_=0)),
            func.sum(case((DeliveryAttempt.outcome != "ok", 1), else_=0)),
        )
        .where(DeliveryAttempt.started_at >= start)
        .group_by(bucket)
    ).all()
    found = {str(b): (int(ok or 0), int(bad or 0)) for b, ok, bad in rows}
    bars = []
    step = timedelta(hours=1) if hours else timedelta(days=1)
    count = hours or days
    for i in range(count, -1, -1):
        at = as_utc(now) - i * step
        key = at.strftime("%Y-%m-%d %H" if hours else "%Y-%m-%d")
        local = at.astimezone(VN_TZ)
        label = local.strftime("%H:00") if hours else local.strftime("%d/%m")
        ok, bad = found.get(key, (0, 0))
        bars.append(Bar(label, ok, bad))
    return bars


def late_reports(session: Session, now: datetime, limit: int = 20) -> list[Packet]:
    """Report packets past their deadline that some destination has not acknowledged."""
    open_states = (S.PENDING.value, S.SENDING.value, S.DELIVERED.value, S.DEAD.value, S.RETURNED.value)
    waiting = select(Delivery.packet_id).where(Delivery.state.in_(open_states))
    return list(
        session.scalars(
            select(Packet)
            .where(Packet.deadline.is_not(None), Packet.deadline < as_utc(now), Packet.id.in_(waiting))
            .order_by(Packet.deadline)
            .limit(limit)
        )
    )


def deliveries(
    session: Session,
    *,
    state: str | tuple[str, ...] | None,
    destination: str | None,
    before: int | None,
    limit: int = PAGE,
) -> tuple[list[Delivery], int | None]:
    query = select(Delivery)
    if isinstance(state, tuple):
        query = query.where(Delivery.state.in_(state))
    elif state:
        query = query.where(Delivery.state == state)
    if destination:
        query = query.where(Delivery.destination == destination)
    if before:
        query = query.where(Delivery.id < before)
    rows = list(session.scalars(query.order_by(Delivery.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


def attempts(session: Session, delivery_id: int) -> list[DeliveryAttempt]:
    return list(
        session.scalars(
            select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id).order_by(DeliveryAttempt.id)
        )
    )


def quarantine(session: Session, *, after: int | None, limit: int = PAGE) -> tuple[list[QuarantineRecord], int | None]:
    query = select(QuarantineRecord).where(QuarantineRecord.state == "open", visible_quarantine())
    if after:
        query = query.where(QuarantineRecord.id > after)
    rows = list(session.scalars(query.order_by(QuarantineRecord.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


@dataclass
class Lifecycle:
    packets: list[Packet]
    deliveries: dict[str, list[Delivery]]
    events: list[AuditEvent]
    statuses: list[StatusReceipt]


def lifecycle(session: Session, packet: Packet) -> Lifecycle:
    """Every revision of the report ``packet`` belongs to, and what happened to each."""
    packets = list(
        session.scalars(
            select(Packet)
            .where(
                Packet.regime_code == packet.regime_code,
                Packet.form_code == packet.form_code,
                Packet.period_key == packet.period_key,
                Packet.reporting_unit == packet.reporting_unit,
            )
            .order_by(Packet.revision, Packet.created_at)
        )
    )
    ids = [p.id for p in packets]
    found = list(session.scalars(select(Delivery).where(Delivery.packet_id.in_(ids)).order_by(Delivery.id)))
    per: dict[str, list[Delivery]] = {}
    for d in found:
        per.setdefault(d.packet_id, []).append(d)
    subjects = [f"delivery:{d.id}" for d in found]
    events = list(
        session.scalars(select(AuditEvent).where(AuditEvent.subject.in_(subjects)).order_by(AuditEvent.id).limit(500))
    )
    statuses = list(
        session.scalars(
            select(StatusReceipt).where(StatusReceipt.original_packet_id.in_(ids)).order_by(StatusReceipt.received_at)
        )
    )
    return Lifecycle(packets, per, events, statuses)


def observation(session: Session, observation_id: int) -> Observation | None:
    return session.get(Observation, observation_id)


@dataclass
class Found:
    """What a search matched: report packets (by id, period or indicator) and stored values."""

    packets: list[Packet]
    values: list[Observation]
    deliveries: list[Delivery]
    more: bool


SEARCH_LIMIT = 50


def search(session: Session, text: str, limit: int = SEARCH_LIMIT) -> Found:
    """Packets whose id starts with ``text`` or whose period is ``text``; values of the indicator
    ``text`` (national or provincial code) or of the period ``text``; a delivery by its number.
    Every match is an indexed equality or prefix, newest first, bounded by ``limit``."""
    text = text.strip()
    if not text:
        return Found([], [], [], False)
    packet_match = Packet.period_key == text
    if len(text) >= 4 and all(c in "0123456789abcdef-" for c in text.lower()):
        packet_match = packet_match | Packet.id.startswith(text.lower(), autoescape=True)
    packets = list(
        session.scalars(select(Packet).where(packet_match).order_by(Packet.created_at.desc()).limit(limit + 1))
    )
    values = list(
        session.scalars(
            select(Observation)
            .where(
                (Observation.indicator_code == text)
                | (Observation.source_indicator_code == text)
                | (Observation.period_key == text),
                visible_observation(),
            )
            .order_by(Observation.id.desc())
            .limit(limit + 1)
        )
    )
    found_deliveries: list[Delivery] = []
    if text.isdigit() and int(text) < 2**31:
        delivery = session.get(Delivery, int(text))
        found_deliveries = [delivery] if delivery is not None else []
    more = len(packets) > limit or len(values) > limit
    return Found(packets[:limit], values[:limit], found_deliveries, more)


class ReconciliationMemo:
    """The last reconciliations the pages built, reused while the database says nothing changed.

    Paging, filtering by verdict or lateness and the downloads of one period all need the whole
    report; rebuilding it for each click costs a few hundred milliseconds at 2,000 packets. A report
    is reused when a fingerprint of what it was built from is unchanged (the period's visible
    observations, its packets and deliveries: counts and the latest id or update) and it is younger
    than ``ttl`` seconds (a receiver's copy, fetched over HTTP, can change without our database
    knowing). The fingerprint is two aggregate queries on indexed columns."""

    def __init__(self, ttl: float = 60.0, size: int = 8) -> None:
        self.ttl = ttl
        self.size = size
        self._found: dict[tuple[str | None, str | None], tuple[tuple[Any, ...], float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, gw: Any, period: str | None, regime: str | None) -> Any:
        from gateway.reconciliation.report import latest_period

        with gw.sessions() as session:
            period = period or latest_period(session, regime)
            mark = _fingerprint(session, period, regime) if period else ()
        key = (period, regime)
        now = time.monotonic()
        with self._lock:
            hit = self._found.get(key)
            if hit is not None and hit[0] == mark and now - hit[1] < self.ttl:
                return hit[2]
        report = gw.reconcile(period=period, regime=regime)
        with self._lock:
            self._found[key] = (mark, now, report)
            while len(self._found) > self.size:
                self._found.pop(next(iter(self._found)))
        return report


def _fingerprint(session: Session, period: str, regime: str | None) -> tuple[Any, ...]:
    observed = select(func.count(), func.max(Observation.id)).where(
        Observation.period_key == period, visible_observation()
    )
    in_period = [Packet.period_key == period]
    if regime:
        observed = observed.where(Observation.regime_code == regime)
        in_period.append(Packet.regime_code == regime)
    sent = (
        select(
            Delivery.state,
            func.count(Packet.id),
            func.count(Delivery.id),
            func.max(Delivery.id),
            func.max(Delivery.updated_at),
            func.sum(Delivery.attempts),
            func.count(Delivery.ack_status),
        )
        .select_from(Packet)
        .outerjoin(Delivery, Delivery.packet_id == Packet.id)
        .where(*in_period)
        .group_by(Delivery.state)
    )
    # Per delivery state: a delivery moving on changes the counts even under a frozen clock (tests).
    per_state = sorted((tuple(row) for row in session.execute(sent)), key=repr)
    return (*session.execute(observed).one(), *per_state)
