"""Append-only, hash-chained audit log, sealed and anchored outside the database.

Each event's hash is SHA-256 over the previous event's hash and the event's own canonical content, so
altering, removing or reordering any row breaks the chain from that row on; ``verify`` names it.
Events are written inside the caller's transaction (never committed here).

A chain alone does not stop someone who can write to the database: they can recompute it after an
edit, append an event of their own, or cut the tail off. So each event also carries a *seal*
(``detail["_seal"]``, an HMAC with the gateway's audit key, a file the database never sees), and
``gateway.audit.checkpoints`` writes signed checkpoints (count, last id, last hash, time) to a file
outside the database; ``verify`` with the key and the checkpoints names what is missing or forged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from gateway.clock import as_utc
from gateway.db.models import AuditEvent
from gateway.logs import redact, redact_value

GENESIS = "0" * 64
SEAL = "_seal"
KEY_INFO = "gateway.audit.key"
"""Where a session finds the audit key: ``sessionmaker(..., info={KEY_INFO: key})`` (bootstrap)."""


def _canonical(prev: str, at: datetime, actor: str, action: str, subject: str, detail: dict[str, Any]) -> bytes:
    return json.dumps(
        [prev, as_utc(at).isoformat(), actor, action, subject, detail],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    ).encode("utf-8")


def _digest(prev: str, at: datetime, actor: str, action: str, subject: str, detail: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical(prev, at, actor, action, subject, detail)).hexdigest()


def seal_of(key: bytes, prev: str, at: datetime, actor: str, action: str, subject: str, detail: dict[str, Any]) -> str:
    """The HMAC-SHA256 of an event's canonical content (its ``detail`` without the seal itself)."""
    unsealed = {k: v for k, v in detail.items() if k != SEAL}
    return hmac.new(key, _canonical(prev, at, actor, action, subject, unsealed), hashlib.sha256).hexdigest()


def record(
    session: Session, *, at: datetime, actor: str, action: str, subject: str, detail: dict[str, Any] | None = None
) -> AuditEvent:
    """Append one event. Callers hold a write transaction, which serialises the chain.

    The chain's tail is read once per transaction (with the PostgreSQL advisory lock taken once) and
    then carried in the session, so a transaction that records many events (a batch of delivery
    outcomes) costs one query, not one per event. Events are inserted in the order recorded, the order
    of their ids."""
    detail = redact_value(dict(detail or {}))  # a receiver's echo of our credentials never enters the log
    actor, subject = redact(actor), redact(subject)
    prev = _tail(session)
    key = session.info.get(KEY_INFO)
    if key:
        detail[SEAL] = seal_of(key, prev, at, actor, action, subject, detail)
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


def verify(session: Session, key: bytes | None = None) -> list[ChainBreak]:
    """Walk the chain; every altered, removed or reordered event is reported. With ``key``, every event
    from the first sealed one on must carry a seal that matches (an edit with the chain recomputed, or
    an event appended by someone without the key, is named)."""
    breaks: list[ChainBreak] = []
    prev = GENESIS
    sealed = False
    for ev in session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars():
        if ev.prev_hash != prev:
            breaks.append(
                ChainBreak(ev.id, "previous hash does not match: an event before it was removed, reordered or altered")
            )
        expected = _digest(ev.prev_hash, ev.at, ev.actor, ev.action, ev.subject, ev.detail)
        if ev.hash != expected:
            breaks.append(ChainBreak(ev.id, "content does not match its hash: this event was altered"))
        if key is not None:
            seal = ev.detail.get(SEAL) if isinstance(ev.detail, dict) else None
            if seal is None and sealed:
                breaks.append(ChainBreak(ev.id, "carries no seal: written by someone without the gateway's audit key"))
            elif seal is not None:
                sealed = True
                want = seal_of(key, ev.prev_hash, ev.at, ev.actor, ev.action, ev.subject, ev.detail)
                if not hmac.compare_digest(str(seal), want):
                    breaks.append(
                        ChainBreak(ev.id, "seal does not match: altered or forged without the gateway's audit key")
                    )
        prev = ev.hash
    return breaks
