"""Append-only, hash-chained audit log.

Each event's hash is SHA-256 over the previous event's hash and the event's own canonical content, so
altering, removing or reordering any row breaks the chain from that row on; ``verify`` names it.
Events are written inside the caller's transaction (never committed here).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from gateway.clock import as_utc
from gateway.db.models import AuditEvent

GENESIS = "0" * 64


def _digest(prev: str, at: datetime, actor: str, action: str, subject: str, detail: dict[str, Any]) -> str:
    body = json.dumps(
        [prev, as_utc(at).isoformat(), actor, action, subject, detail],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def record(
    session: Session, *, at: datetime, actor: str, action: str, subject: str, detail: dict[str, Any] | None = None
) -> AuditEvent:
    """Append one event. Callers hold a write transaction, which serialises the chain.

    The chain's tail is read once per transaction (with the PostgreSQL advisory lock taken once) and
    then carried in the session, so a transaction that records many events (a batch of delivery
    outcomes) costs one query, not one per event. Events are inserted in the order recorded, the order
    of their ids."""
    detail = detail or {}
    prev = _tail(session)
    event = AuditEvent(
        at=at,
        actor=actor,
        action=action,
        subject=subject,
        detail=detail,
        prev_hash=prev,
        hash=_digest(prev, at, actor, action, subject, detail),
    )
    session.add(event)
    session.info[_TAIL] = (session.get_transaction(), event.hash)
    return event


_TAIL = "gateway.audit.tail"


def _tail(session: Session) -> str:
    cached = session.info.get(_TAIL)
    if cached is not None and cached[0] is session.get_transaction() and cached[0] is not None:
        return str(cached[1])
    if session.get_bind().dialect.name == "postgresql":
        # Serialise writers of the chain until this transaction ends; SQLite already does (BEGIN IMMEDIATE).
        session.execute(text("SELECT pg_advisory_xact_lock(125021)"))
    session.flush()  # events added earlier in this session (before a savepoint, say) come first
    last = session.execute(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).scalar()
    return last or GENESIS


@dataclass(frozen=True)
class ChainBreak:
    event_id: int
    problem: str


def verify(session: Session) -> list[ChainBreak]:
    """Walk the chain; every altered, removed or reordered event is reported."""
    breaks: list[ChainBreak] = []
    prev = GENESIS
    for ev in session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars():
        if ev.prev_hash != prev:
            breaks.append(
                ChainBreak(ev.id, "previous hash does not match: an event before it was removed, reordered or altered")
            )
        expected = _digest(ev.prev_hash, ev.at, ev.actor, ev.action, ev.subject, ev.detail)
        if ev.hash != expected:
            breaks.append(ChainBreak(ev.id, "content does not match its hash: this event was altered"))
        prev = ev.hash
    return breaks
