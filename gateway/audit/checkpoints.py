"""Checkpoints of the audit chain, written outside the database (X-Road's message-log anchoring, small).

A checkpoint is one JSON line: how many events there were, the last event's id and hash, and when,
signed with the gateway's signing key (its certificate rides along and must be one of ours) or, when
no signing key is configured, with an HMAC under the audit key. The file lives outside the database
(``audit.checkpoint_file``), appended under a lock, 0600. Someone who can rewrite the database but not
that file cannot hide a cut tail, an emptied table or a recomputed chain: ``problems`` compares every
checkpoint with the database and names what is missing or changed, and events newer than the latest
checkpoint that claim to be older than it (appended afterwards, back-dated).

Where a time-stamping authority is configured (``[timestamps]``), each checkpoint also carries an
RFC 3161 token over its payload: a third party's word that the chain was in that state at that time.
``problems`` checks the token (imprint, TSA chained to ``[trust] dir``) and that the checkpoint was not
stamped long after the time it claims (a checkpoint forged later and back-dated). When the TSA does
not answer, the checkpoint is still written, without a token, and that is logged: the anchor matters
more than its proof of time.

What a checkpoint cannot see: events written after the latest one and not back-dated; the interval
(``audit.checkpoint_interval``) bounds that window, and the per-event seal covers it for anyone
without the audit key.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.clock import as_utc
from gateway.db.models import AuditEvent
from gateway.errors import ConfigurationError

if TYPE_CHECKING:  # cryptography is imported where a checkpoint is signed or checked: every command bootstraps
    from cryptography import x509

    from gateway.signing.keys import SigningKey

if TYPE_CHECKING:
    from gateway.signing.trust import TrustStore

SKEW = timedelta(minutes=5)
STAMP_DELAY = timedelta(minutes=10)
"""How long after the time a checkpoint claims its token may be dated (the TSA is asked right away)."""


def load_key(path: Path) -> bytes:
    """The audit key (32 random bytes, hex), made 0600 on first use."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(secrets.token_hex(32) + "\n")
    text = path.read_text(encoding="utf-8").strip()
    if len(text) < 64:
        raise ConfigurationError(f"{path}: the audit key must be 64 hex characters")
    return bytes.fromhex(text)


@dataclass(frozen=True)
class Checkpoint:
    count: int
    last_id: int
    last_hash: str
    at: str
    alg: str = ""
    signature: str = ""
    certificate: str | None = None
    timestamp: str | None = None  # base64 RFC 3161 token over ``payload()``

    def payload(self) -> bytes:
        body = {"count": self.count, "last_id": self.last_id, "last_hash": self.last_hash, "at": self.at}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def current(session: Session, now: datetime) -> Checkpoint:
    count = int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)
    last = session.execute(select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).first()
    return Checkpoint(count, int(last[0]) if last else 0, str(last[1]) if last else "", as_utc(now).isoformat())


def sign(point: Checkpoint, key: bytes, signing: SigningKey | None) -> Checkpoint:
    data = point.payload()
    if signing is None:
        mac = hmac.new(key, data, hashlib.sha256).hexdigest()
        return Checkpoint(**{**asdict(point), "alg": "hmac-sha256", "signature": mac})
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.serialization import Encoding

    private = signing.private_key
    if isinstance(private, ec.EllipticCurvePrivateKey):
        raw, alg = private.sign(data, ec.ECDSA(hashes.SHA256())), "ecdsa-sha256"
    elif isinstance(private, rsa.RSAPrivateKey):
        raw, alg = private.sign(data, padding.PKCS1v15(), hashes.SHA256()), "rsa-sha256"
    else:
        raise ConfigurationError("the signing key is neither RSA nor EC")
    cert = base64.b64encode(signing.certificate.public_bytes(Encoding.DER)).decode()
    return Checkpoint(**{**asdict(point), "alg": alg, "signature": base64.b64encode(raw).decode(), "certificate": cert})


def append(path: Path, point: Checkpoint) -> None:
    """Append one line under an exclusive lock, flushed to disk."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, (json.dumps(asdict(point), sort_keys=True) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read(path: Path) -> tuple[list[Checkpoint], list[str]]:
    """The checkpoints in the file, and a problem for every line that is not one."""
    points: list[Checkpoint] = []
    problems: list[str] = []
    if not path.exists():
        return points, problems
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            points.append(Checkpoint(**json.loads(line)))
        except (ValueError, TypeError) as exc:
            problems.append(f"{path.name} line {number}: not a checkpoint ({type(exc).__name__})")
    return points, problems


def _signature_holds(point: Checkpoint, key: bytes, ours: list[x509.Certificate]) -> str | None:
    data = point.payload()
    if point.alg == "hmac-sha256":
        expected = hmac.new(key, data, hashlib.sha256).hexdigest()
        return None if hmac.compare_digest(point.signature, expected) else "bad HMAC"
    if not point.certificate:
        return "no certificate"
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding

    try:
        cert = x509.load_der_x509_certificate(base64.b64decode(point.certificate))
        raw = base64.b64decode(point.signature)
    except ValueError:
        return "unreadable certificate or signature"
    if not any(cert == mine for mine in ours):
        return "signed by a certificate that is not one of the gateway's keys"
    public: Any = cert.public_key()
    try:
        if point.alg == "ecdsa-sha256":
            public.verify(raw, data, ec.ECDSA(hashes.SHA256()))
        elif point.alg == "rsa-sha256":
            public.verify(raw, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            return f"unknown algorithm {point.alg!r}"
    except InvalidSignature:
        return "bad signature"
    return None


def _timestamp_holds(point: Checkpoint, trust: TrustStore | None) -> str | None:
    from gateway.errors import SignatureInvalid
    from gateway.signing import timestamps

    if point.timestamp is None:
        return None
    if trust is None:
        return "carries a timestamp that cannot be checked: no [trust] dir is configured"
    try:
        stamp = timestamps.verify_token(timestamps.decode(point.timestamp, "checkpoint"), point.payload(), trust, "")
    except SignatureInvalid as exc:
        return f"its timestamp does not hold ({exc.code}: {exc.reason})"
    claimed = as_utc(datetime.fromisoformat(point.at))
    if stamp.time > claimed + STAMP_DELAY or stamp.time < claimed - SKEW:
        return (
            f"it claims {point.at} but was timestamped at {stamp.time.isoformat()} by {stamp.tsa}: "
            "written at another time than it says"
        )
    return None


def problems(
    session: Session, path: Path, key: bytes, ours: list[x509.Certificate], trust: TrustStore | None = None
) -> list[str]:
    """Everything the checkpoints show is wrong with the chain in the database (empty: consistent)."""
    points, found = read(path)
    if not points:
        return found  # nothing to compare with: ``anchored`` says so
    valid: list[Checkpoint] = []
    for number, point in enumerate(points, start=1):
        why = _signature_holds(point, key, ours) or _timestamp_holds(point, trust)
        if why:
            found.append(f"checkpoint {number} ({point.at}): {why}; ignored")
        else:
            valid.append(point)
    max_id = int(session.scalar(select(func.max(AuditEvent.id))) or 0)
    for point in valid:
        if point.count == 0:
            continue
        row = session.get(AuditEvent, point.last_id)
        held = int(session.scalar(select(func.count()).where(AuditEvent.id <= point.last_id)) or 0)
        if row is None:
            lost = point.count - held
            found.append(
                f"checkpoint of {point.at} covered {point.count} events up to event {point.last_id}; the log ends at "
                f"event {max_id or 'none'} and holds {held} of them: {lost} events were removed"
                + (" (the table was emptied)" if max_id == 0 else " (the tail was cut)")
            )
            continue
        if row.hash != point.last_hash:
            found.append(
                f"event {point.last_id} no longer has the hash the checkpoint of {point.at} recorded: "
                "the chain was recomputed after an edit"
            )
        if held != point.count:
            gap = point.count - held  # "+1 events" read as one added when one was removed
            change = f"{gap} removed" if gap > 0 else f"{-gap} added"
            found.append(
                f"checkpoint of {point.at} counted {point.count} events up to event {point.last_id}, "
                f"the database holds {held}: {change}"
            )
    if valid:
        latest = valid[-1]
        cutoff = datetime.fromisoformat(latest.at) - SKEW
        later = session.execute(
            select(AuditEvent.id, AuditEvent.at).where(AuditEvent.id > latest.last_id).order_by(AuditEvent.id)
        ).all()
        for event_id, at in later:
            if as_utc(at) < cutoff:
                found.append(
                    f"event {event_id} claims {as_utc(at).isoformat()}, before the checkpoint of {latest.at}, which "
                    "does not cover it: it was appended afterwards"
                )
    return found


def due(path: Path, interval: float) -> bool:
    """Whether the file's last checkpoint is older than ``interval`` seconds (or there is none)."""
    try:
        return time.time() - path.stat().st_mtime >= interval
    except FileNotFoundError:
        return True


def anchored(path: Path) -> str | None:
    """A warning when the chain has no checkpoint yet (a fresh install before its first worker sweep)."""
    points, _ = read(path)
    if points:
        return None
    return f"no checkpoint in {path} yet: the chain is not anchored (run `gateway audit checkpoint`)"
