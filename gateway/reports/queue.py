"""The one tail every packet we make goes through: sealed per destination, then stored with its
deliveries in the outbox, in the caller's transaction (the caller audits and publishes after commit).

Why one function: numeric, list, KPI, narrative and status packets, approvals and catalogue pushes
all did the same ``seal_for`` + ``outbox.store`` dance by hand, each free to forget an argument (the
other destinations' own copies, the deadline). Here it is written once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy.orm import Session

from gateway import audit, outbox
from gateway.calendar.regimes import Run
from gateway.clock import VN_TZ
from gateway.db.models import Delivery, Packet
from gateway.packets import model as m
from gateway.reports.routing import Format, seal_for
from gateway.settings import DestinationSettings
from gateway.signing.seal import Sealer


def due_at(run: Run) -> datetime:
    """The last second of a run's effective deadline, Vietnam time, as UTC: what deliveries race."""
    return datetime.combine(run.deadline, time(23, 59, 59), VN_TZ).astimezone(UTC)


def queue(
    session: Session,
    envelope: m.Envelope,
    names: Iterable[str],
    destinations: Mapping[str, DestinationSettings],
    sealer: Sealer,
    *,
    now: datetime,
    actor: str,
    fmt: Format | None = None,
    value_count: int = 0,
    mapping_version: str | None = None,
    deadline: datetime | None = None,
    report_key: tuple[str | None, str | None, str | None, int] | None = None,
    event: str | None = None,
    subject: str = "",
    detail: Mapping[str, Any] | None = None,
) -> tuple[Packet, list[Delivery]]:
    """Seal ``envelope`` once per destination (each in its format, addressed to its receiver) and add
    the packet and its deliveries to the outbox; with ``event``, record it in the audit log too (its
    ``detail`` gains the packet's ``MaGoiTin``). Returns what was stored (nothing is committed)."""
    sealed = seal_for(envelope, names, destinations, sealer, fmt)
    packet, deliveries = outbox.store(
        session,
        sealed.envelope,
        sealed.payload,
        sealed.fmt,
        sealed.destinations,
        own_payloads=sealed.own,
        now=now,
        value_count=value_count,
        mapping_version=mapping_version,
        deadline=deadline,
        actor=actor,
        report_key=report_key,
    )
    if event is not None:
        audit.record(
            session, at=now, actor=actor, action=event, subject=subject, detail={"packet": packet.id, **(detail or {})}
        )
    return packet, deliveries
