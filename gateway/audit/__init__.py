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
    """Append one event. Callers hold a write transaction, which serialises the chain."""
    detail = detail or {}
    if session.get_bind().dialect.name == "postgresql":
        # Serialise writers of the chain; SQLite already does (BEGIN IMMEDIATE).
        session.execute(text("SELECT pg_advisory_xact_lock(125021)"))
    last = session.execute(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).scalar()
    prev = last or GENESIS
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
    session.flush()
    return event


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
