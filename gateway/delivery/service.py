"""Delivery use cases: claim, attempt, record, transition, sweep, replay, take in status packets.

Each use case is one transaction. A claim is an atomic conditional UPDATE (``pending`` and due, or
``sending`` with an expired lease), so concurrent workers on SQLite or PostgreSQL never attempt the
same delivery at once; ``claim_due`` takes the earliest-deadline due rows (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL), so after an outage the backlog drains in deadline order whatever order wake-ups arrive in.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway import audit, outbox
from gateway.clock import Clock, as_utc
from gateway.connectors.base import Connector, OutgoingPacket, Receipt
from gateway.db.models import Delivery, DeliveryAttempt, DeliveryState, DestinationState, Packet, StatusReceipt
from gateway.delivery import states
from gateway.delivery.binding import (
    Answered,
    StatusOrigin,
    StatusUnbound,
    answered,
    check_answers,
    check_origin,
    destinations_of,
)
from gateway.delivery.circuit import CircuitBreakers
from gateway.delivery.retry import RetryPolicy
from gateway.errors import (
    Conflict,
    CredentialsError,
    DeliveryError,
    InputError,
    NotFound,
    RejectedDeliveryError,
    SignatureInvalid,
    TransientDeliveryError,
)
from gateway.logs import log_context, redact
from gateway.packets import model as m
from gateway.packets.validate import write_packet

log = logging.getLogger(__name__)
S = DeliveryState

STATUS_TO_STATE: dict[m.ReportStatus, S] = {
    m.ReportStatus.DA_TIEP_NHAN: S.ACKNOWLEDGED,
    m.ReportStatus.DA_DUYET: S.ACKNOWLEDGED,
    m.ReportStatus.TRA_LAI: S.RETURNED,
    m.ReportStatus.TU_CHOI: S.REJECTED,
}


def transition(
    session: Session,
    delivery: Delivery,
    target: S,
    *,
    now: datetime,
    actor: str,
    why: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """The one way a delivery changes state: checked against the table, stamped, audited."""
    current = S(delivery.state)
    states.check(current, target)
    delivery.state = target.value
    delivery.updated_at = now
    if target is not S.SENDING:
        audit.record(
            session,
            at=now,
            actor=actor,
            action=f"delivery.{target.value}",
            subject=f"delivery:{delivery.id}",
            detail={
                "from": current.value,
                "packet": delivery.packet_id,
                "destination": delivery.destination,
                "why": why,
                **(detail or {}),
            },
        )


def set_paused(
    session: Session, destination: str, paused: bool, *, reason: str | None, now: datetime, actor: str
) -> None:
    """Pause or resume sending to ``destination`` (audited)."""
    row = session.get(DestinationState, destination, with_for_update=True)
    if row is None:
        row = DestinationState(name=destination, paused=paused, reason=reason, changed_at=now, changed_by=actor)
        session.add(row)
    elif row.paused == paused:
        return
    row.paused, row.reason, row.changed_at, row.changed_by = paused, reason, now, actor
    audit.record(
        session,
        at=now,
        actor=actor,
        action="destination.paused" if paused else "destination.resumed",
        subject=f"destination:{destination}",
        detail={"reason": reason},
    )


def _audit_refused(session: Session, exc: SignatureInvalid, destination: str, *, now: datetime, actor: str) -> None:
    """A status packet whose signature did not verify is ignored, and that decision is audited."""
    audit.record(
        session,
        at=now,
        actor=actor,
        action="signature.rejected",
        subject=f"destination:{destination}",
        detail={"code": exc.code, "reason": str(exc)},
    )


def _context(delivery_id: int, row: tuple[Any, ...]) -> contextlib.AbstractContextManager[None]:
    """Every log line about this delivery carries its packet, destination and correlation id."""
    return log_context(delivery_id=delivery_id, packet_id=row[4], destination=row[0], correlation_id=row[3])


def _log_result(delivery_id: int, row: tuple[Any, ...], result: AttemptResult) -> None:
    with _context(delivery_id, row):
        level = logging.INFO if result.outcome in ("acknowledged", "delivered", "retry") else logging.WARNING
        log.log(
            level, "delivery attempt: %s%s", result.outcome, f" (next in {result.wait:.1f} s)" if result.wait else ""
        )


@dataclass(frozen=True)
class _Sent:
    """One attempt made, not yet recorded."""

    delivery_id: int
    attempt_no: int
    created_at: datetime
    receipt: Receipt | None
    error: DeliveryError | None
    elapsed: float
    defer: float = 0.0
    why: str = ""


@dataclass(frozen=True)
class AttemptResult:
    delivery_id: int
    outcome: str  # claimed-elsewhere | deferred | acknowledged | delivered | returned | rejected | retry | dead
    wait: float = 0.0


class DeliveryService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        connectors: dict[str, Connector],
        policies: dict[str, RetryPolicy],
        clock: Clock,
        *,
        worker_id: str = "worker",
        lease_seconds: float = 120.0,
        circuits: CircuitBreakers | None = None,
        observe: Callable[[str, str, float, int | None], None] | None = None,
        forward_returns_to: str | None = None,
        forward_format: Literal["json", "xml"] = "json",
        own_unit: str,
        receivers: Mapping[str, str],
    ) -> None:
        """``own_unit`` is our ``DonViGui`` (status packets must be addressed to it); ``receivers`` maps
        each destination to its receiver's unit code (only that unit may answer for the destination)."""
        self.sessions = sessions
        self.connectors = connectors
        self.policies = policies
        self.clock = clock
        self.worker_id = worker_id
        self.lease = timedelta(seconds=lease_seconds)
        self.circuits = circuits or CircuitBreakers(clock)
        self._observe = observe
        self.forward_returns_to = forward_returns_to
        self.forward_format = forward_format
        self.own_unit = own_unit
        self.receivers = dict(receivers)

    # ------------------------------------------------------------------ claim
    def _due_condition(self, now: datetime) -> Any:
        paused = select(DestinationState.name).where(DestinationState.paused.is_(True))
        return and_(
            or_(
                and_(Delivery.state == S.PENDING.value, Delivery.next_attempt_at <= now),
                and_(Delivery.state == S.SENDING.value, Delivery.lease_until < now),
            ),
            Delivery.destination.not_in(paused),
        )

    def _claim_values(self, now: datetime) -> dict[str, Any]:
        return {
            "state": S.SENDING.value,
            "lease_until": now + self.lease,
            "claimed_by": self.worker_id,
            "attempts": Delivery.attempts + 1,
            "updated_at": now,
        }

    def claim(self, delivery_id: int) -> bool:
        """Claim one given delivery if it is due (atomic conditional UPDATE)."""
        now = self.clock.now()
        with self.sessions.begin() as session:
            expired = select(Delivery.id).where(
                Delivery.id == delivery_id, Delivery.state == S.SENDING.value, Delivery.lease_until < now
            )
            if session.get_bind().dialect.name == "postgresql":
                expired = expired.with_for_update(skip_locked=True)
            lost = list(session.scalars(expired))
            if lost:  # held (locked, or SQLite's write lock): the update below claims it
                self._record_lost(session, lost, now)
            result = session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id, self._due_condition(now))
                .values(**self._claim_values(now))
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def claim_due(self, exclude: frozenset[str] = frozenset(), limit: int = 1) -> dict[int, tuple[Any, ...]]:
        """Claim up to ``limit`` due deliveries, earliest deadline first, in one transaction, and read
        what their attempts need (``_rows``) in the same transaction; ``{}`` when nothing is due.

        Expired leases (a worker died mid-attempt) come first, then pending deliveries in
        ``drain_order`` (the deadline), walked along an index so a large backlog costs no sort.
        PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so concurrent workers take different rows. SQLite: the
        transaction holds the write lock from its start (``BEGIN IMMEDIATE``), so select-then-update is
        atomic. Destinations in ``exclude`` (open circuits) and paused destinations are left alone."""
        now = self.clock.now()
        paused = select(DestinationState.name).where(DestinationState.paused.is_(True))
        with self.sessions.begin() as session:
            postgres = session.get_bind().dialect.name == "postgresql"
            candidates = [
                select(Delivery.id).where(Delivery.state == S.SENDING.value, Delivery.lease_until < now),
                select(Delivery.id)
                .where(Delivery.state == S.PENDING.value, Delivery.next_attempt_at <= now)
                .order_by(Delivery.drain_order, Delivery.next_attempt_at, Delivery.id),
            ]
            ids: list[int] = []
            lost: list[int] = []
            for first, query in enumerate(candidates):
                query = query.where(Delivery.destination.not_in(paused)).limit(limit - len(ids))
                if exclude:
                    query = query.where(Delivery.destination.not_in(sorted(exclude)))
                if postgres:
                    query = query.with_for_update(skip_locked=True)
                found = [int(i) for i in session.scalars(query)]
                if first == 0:
                    lost = found  # expired leases: the attempt before this one left no result
                ids.extend(found)
                if len(ids) >= limit:
                    break
            if not ids:
                return {}
            if lost:
                self._record_lost(session, lost, now)
            session.execute(
                update(Delivery)
                .where(Delivery.id.in_(ids))
                .values(**self._claim_values(now))
                .execution_options(synchronize_session=False)
            )
            rows = self._rows(session, ids)
            return {i: rows[i] for i in ids}  # in claim (deadline) order

    def _record_lost(self, session: Session, ids: list[int], now: datetime) -> None:
        """An attempt whose worker never reported (killed mid-request, or cut off from the database when
        it came to write the outcome) goes into the history as ``lost`` when its lease is taken over,
        before the new claim counts the next one: the history showed nothing of it, so an operator saw
        attempt 2 follow no attempt 1 and a receiver's log held a request we had no record of. The
        receiver may have it; the next attempt carries the same idempotency key."""
        rows = session.execute(
            select(
                Delivery.id, Delivery.attempts, Delivery.claimed_by, Delivery.lease_until, Delivery.updated_at
            ).where(Delivery.id.in_(ids))
        ).all()
        session.execute(
            insert(DeliveryAttempt),
            [
                {
                    "delivery_id": delivery_id,
                    "number": attempts,
                    "started_at": claimed_at or now,  # the claim's time: the request went out after it
                    "duration_ms": 0,
                    "http_status": None,
                    "outcome": "lost",
                    "error": (
                        f"worker {by or '?'} claimed it and reported no result before its lease ended "
                        f"({as_utc(until).isoformat(timespec='seconds') if until else 'unknown'}): killed, or cut off "
                        "from the database; the receiver may have it, the next attempt has the same idempotency key"
                    ),
                    "retry_after": None,
                    "worker": (by or "")[:100] or None,
                }
                for delivery_id, attempts, by, until, claimed_at in rows
            ],
        )
        for delivery_id, _, by, _, _ in rows:
            log.warning("delivery %s: the attempt by %s left no result (lease expired); taken over", delivery_id, by)

    # ------------------------------------------------------------------ attempt
    def attempt(self, delivery_id: int) -> AttemptResult:
        """Claim this delivery and make one attempt. Safe to call for any id, any number of times."""
        if not self.claim(delivery_id):
            return AttemptResult(delivery_id, "claimed-elsewhere")
        with self.sessions() as session:
            row = self._rows(session, [delivery_id])[delivery_id]
        return self._attempt_claimed(delivery_id, row)

    def attempt_next(self, exclude: frozenset[str] = frozenset()) -> AttemptResult | None:
        """Claim the earliest-deadline due delivery and make one attempt; None when nothing is due."""
        claimed = self.claim_due(exclude, 1)
        if not claimed:
            return None
        ((delivery_id, row),) = claimed.items()
        return self._attempt_claimed(delivery_id, row)

    def _attempt_claimed(self, delivery_id: int, row: tuple[Any, ...]) -> AttemptResult:
        with _context(delivery_id, row):
            sent = self._send(delivery_id, row)
        with self.sessions.begin() as session:
            result = self._record(session, sent)
        _log_result(delivery_id, row, result)
        return result

    def attempt_batch(self, exclude: frozenset[str] = frozenset(), limit: int = 4) -> list[AttemptResult]:
        """Claim up to ``limit`` due deliveries in one transaction, send them one after another, and
        record every outcome in one transaction: two short write transactions per batch, however
        large, which is what lets one SQLite file keep up with the network."""
        rows = self.claim_due(exclude, limit)
        if not rows:
            return []
        sent = []
        for delivery_id, row in rows.items():
            with _context(delivery_id, row):
                sent.append(self._send(delivery_id, row))
        with self.sessions.begin() as session:
            # One locking read for the batch instead of one per delivery in ``_settle``.
            locked = session.scalars(select(Delivery).where(Delivery.id.in_(list(rows))).with_for_update()).all()
            assert len(locked) == len(rows)
            receipts = [str(x.receipt.status.packet_id) for x in sent if x.receipt and x.receipt.status]
            known = set(session.scalars(select(StatusReceipt.packet_id).where(StatusReceipt.packet_id.in_(receipts))))
            attempts: list[dict[str, Any]] = []
            results = [self._record(session, item, locked=True, receipts=known, attempts=attempts) for item in sent]
            if attempts:  # the batch's attempt rows in one multi-row INSERT, not one ORM object each
                session.execute(insert(DeliveryAttempt), attempts)
        for item, result in zip(sent, results, strict=True):
            _log_result(item.delivery_id, rows[item.delivery_id], result)
        return results

    @staticmethod
    def _rows(session: Session, ids: list[int]) -> dict[int, tuple[Any, ...]]:
        """What an attempt needs, per delivery: destination, attempts, created_at, key, packet id, payload,
        content type."""
        return {
            r[0]: tuple(r[1:])
            for r in session.execute(
                select(
                    Delivery.id,
                    Delivery.destination,
                    Delivery.attempts,
                    Delivery.created_at,
                    Delivery.idempotency_key,
                    Packet.id,
                    func.coalesce(Delivery.payload, Packet.payload),
                    func.coalesce(Delivery.content_type, Packet.content_type),
                )
                .join(Packet, Packet.id == Delivery.packet_id)
                .where(Delivery.id.in_(ids))
            )
        }

    def _send(self, delivery_id: int, row: tuple[Any, ...]) -> _Sent:
        """Make the attempt (no database work here)."""
        destination, attempt_no, created_at, key, packet_id, payload, ctype = row
        connector = self.connectors.get(destination)
        if connector is None:
            error = RejectedDeliveryError(f"destination {destination!r} is not configured")
            return _Sent(delivery_id, attempt_no, created_at, None, error, 0.0)
        wait = self.circuits.allow(destination)
        if wait > 0:
            return _Sent(
                delivery_id, attempt_no, created_at, None, None, 0.0, defer=wait, why=f"circuit open for {destination}"
            )
        started = time.perf_counter()
        receipt: Receipt | None = None
        failure: DeliveryError | None = None
        try:
            receipt = connector.send(OutgoingPacket(packet_id, key, payload, ctype))
        except DeliveryError as exc:
            failure = exc
        except Exception as exc:  # an unknown failure in a connector is transient, counted, never swallowed
            log.exception("connector %s failed unexpectedly on delivery %s", destination, delivery_id)
            failure = TransientDeliveryError(f"{destination}: unexpected {type(exc).__name__}: {exc}")
        elapsed = time.perf_counter() - started
        if failure is None:
            self.circuits.success(destination)
        elif isinstance(failure, TransientDeliveryError):
            self.circuits.failure(destination)
        return _Sent(delivery_id, attempt_no, created_at, receipt, failure, elapsed)

    def _record(
        self,
        session: Session,
        sent: _Sent,
        *,
        locked: bool = False,
        receipts: set[str] | None = None,
        attempts: list[dict[str, Any]] | None = None,
    ) -> AttemptResult:
        if sent.defer:
            return self._defer_in(session, sent.delivery_id, sent.defer, sent.why)
        return self._settle(
            session,
            sent.delivery_id,
            sent.attempt_no,
            sent.created_at,
            sent.receipt,
            sent.error,
            sent.elapsed,
            locked=locked,
            receipts=receipts,
            attempts=attempts,
        )

    def _defer_in(self, session: Session, delivery_id: int, wait: float, why: str) -> AttemptResult:
        """Give a claim back without counting an attempt (the circuit is open)."""
        now = self.clock.now()
        session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.claimed_by == self.worker_id, Delivery.state == S.SENDING.value)
            .values(
                state=S.PENDING.value,
                attempts=Delivery.attempts - 1,
                lease_until=None,
                next_attempt_at=now + timedelta(seconds=wait),
                last_error=why,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        return AttemptResult(delivery_id, "deferred", wait)

    def _settle(
        self,
        session: Session,
        delivery_id: int,
        attempt_no: int,
        created_at: datetime,
        receipt: Receipt | None,
        error: DeliveryError | None,
        elapsed: float,
        *,
        locked: bool = False,
        receipts: set[str] | None = None,
        attempts: list[dict[str, Any]] | None = None,
    ) -> AttemptResult:
        """Record one attempt and apply its outcome, inside the caller's transaction (``locked``: the
        caller already holds the row, loaded with a locking read, in this session; ``receipts``: the
        status packets already recorded, as ``_apply_status`` takes them; ``attempts``: where a batch
        collects its attempt rows to insert them in one statement, else the row is added here)."""
        now = self.clock.now()
        delivery = session.get(Delivery, delivery_id, with_for_update=None if locked else True)
        assert delivery is not None
        outcome = "ok" if error is None else type(error).__name__
        attempt = {
            "delivery_id": delivery_id,
            "number": attempt_no,
            "started_at": now - timedelta(seconds=elapsed),
            "duration_ms": int(elapsed * 1000),
            "http_status": receipt.http_status if receipt else error and error.status,
            "outcome": outcome,
            "error": redact(str(error)) if error else (redact(receipt.note) if receipt and receipt.note else None),
            "retry_after": error.retry_after if error else None,
            "worker": self.worker_id,
        }
        if attempts is None:
            session.add(DeliveryAttempt(**attempt))
        else:
            attempts.append(attempt)
        if self._observe:
            self._observe(delivery.destination, outcome, elapsed, attempt_no)
        if delivery.state != S.SENDING.value or delivery.claimed_by != self.worker_id:
            # Our lease expired and another worker took over; its outcome will decide.
            return AttemptResult(delivery_id, "claimed-elsewhere")
        delivery.lease_until = None
        delivery.last_status = receipt.http_status if receipt else (error.status if error else None)
        actor = f"worker:{self.worker_id}"
        if error is None:
            assert receipt is not None
            delivery.last_error = redact(receipt.note) if receipt.note else None
            if receipt.signature_error is not None:
                _audit_refused(session, receipt.signature_error, delivery.destination, now=now, actor=actor)
            unbound = self._unbound_answer(session, delivery, receipt.status)
            if unbound is not None:
                delivery.last_error = f"status packet refused: {unbound}"
                _audit_refused(session, unbound, delivery.destination, now=now, actor=actor)
            if receipt.status is None or unbound is not None:
                transition(session, delivery, S.DELIVERED, now=now, actor=actor, why="receiver accepted")
                return AttemptResult(delivery_id, "delivered")
            target = self._apply_status(session, delivery, receipt.status, now=now, actor=actor, receipts=receipts)
            return AttemptResult(delivery_id, target.value)
        delivery.last_error = redact(str(error))
        if isinstance(error, RejectedDeliveryError):
            transition(session, delivery, S.REJECTED, now=now, actor=actor, why=str(error))
            return AttemptResult(delivery_id, "rejected")
        if isinstance(error, CredentialsError):
            # Not this packet's fault: keep it, stop the destination, tell an operator.
            transition(session, delivery, S.PENDING, now=now, actor=actor, why=str(error))
            delivery.next_attempt_at = now
            set_paused(session, delivery.destination, True, reason=str(error), now=now, actor=actor)
            log.error(
                "destination %s paused: %s; resume with `gateway destinations resume %s` once fixed",
                delivery.destination,
                error,
                delivery.destination,
            )
            return AttemptResult(delivery_id, "paused")
        policy = self.policies[delivery.destination]
        age = (now - as_utc(created_at)).total_seconds()
        decision = policy.decide(attempt_no, error, age)
        if not decision.retry:
            transition(session, delivery, S.DEAD, now=now, actor=actor, why=f"{decision.why}: {error}")
            return AttemptResult(delivery_id, "dead")
        transition(session, delivery, S.PENDING, now=now, actor=actor, why=str(error))
        delivery.next_attempt_at = now + timedelta(seconds=decision.wait)
        return AttemptResult(delivery_id, "retry", decision.wait)

    # ------------------------------------------------------------------ status packets
    def _unbound_answer(self, session: Session, delivery: Delivery, status: m.Envelope | None) -> StatusUnbound | None:
        """A status in the answer on our own connection must still come from that destination's receiver
        (the connection proves who answered, not what the packet claims) and name the report the packet
        carries. It is addressed to whoever sent the packet it answers, which for a forwarded status
        packet is not us, so that is not checked here; the connector has already checked that it
        answers the packet sent."""
        if status is None:
            return None
        destination = delivery.destination
        source = f"{destination} answer"
        expected = self.receivers.get(destination)
        if status.sender.code != expected:
            return StatusUnbound(
                "not_the_receiver",
                f"DonViGui is {status.sender.code}, but {destination}'s receiver is {expected}",
                location=source,
            )
        try:
            check_answers(status, _answered(session, delivery.packet_id), source)
        except StatusUnbound as exc:
            return exc
        return None

    def _apply_status(
        self,
        session: Session,
        delivery: Delivery,
        status: m.Envelope,
        *,
        now: datetime,
        actor: str,
        receipts: set[str] | None = None,
    ) -> S:
        """Apply a status packet to its delivery. ``receipts``, when given, is the set of status packet
        ids already recorded (read once for a batch, kept up to date here), saving a query and the
        flush before it per delivery."""
        body = status.body
        assert isinstance(body, m.StatusReport)
        receipt_id = str(status.packet_id)
        if receipts is None:
            new = session.get(StatusReceipt, receipt_id) is None
        else:
            new = receipt_id not in receipts
            receipts.add(receipt_id)
        if new:
            session.add(_receipt(status, now))
        if _older(session, delivery, _given(body.at, now)):
            # The receiver said something newer already (a poll and a webhook crossing, a queue replayed):
            # this one is kept as a receipt and an event, and changes nothing.
            self._note_stale(session, delivery, status, now=now, actor=actor)
            return S(delivery.state)
        delivery.ack_status = body.status.value
        delivery.ack_packet_id = receipt_id
        delivery.ack_reason = redact(body.reason) if body.reason else None
        target = STATUS_TO_STATE.get(body.status)
        current = S(delivery.state)
        if target is None or target is current:
            return current
        if current is not S.SENDING and target not in states.ALLOWED[current]:
            # A late answer that the state machine has no edge for (a TU_CHOI after DA_TIEP_NHAN is real:
            # the receiver refused what it had accepted). The state stays, the answer is kept as an event on
            # the delivery, the delivery is flagged for an operator, and the alert fires; never a 500.
            self._flag_late(session, delivery, status, current, now=now, actor=actor)
            return current
        if current is S.SENDING and target is not S.ACKNOWLEDGED:
            transition(session, delivery, S.DELIVERED, now=now, actor=actor, why="receiver accepted")
        transition(
            session,
            delivery,
            target,
            now=now,
            actor=actor,
            why=f"{body.status.value}" + (f": {body.reason}" if body.reason else ""),
            detail={"status_packet": receipt_id},
        )
        forward = self.forward_returns_to
        if (
            target is S.RETURNED
            and forward
            and forward != delivery.destination
            and session.get(Packet, receipt_id) is None
        ):
            # The provincial system must hear of a return: the status packet itself goes through the
            # outbox, in the format that destination takes (its ``format``), like everything sent there.
            # A JSON signature (ChuKySo) has no place in XML: the copy in the other format goes without it.
            copy = status if self.forward_format == "json" else status.model_copy(update={"signature": None})
            payload = write_packet(copy, self.forward_format)
            outbox.store(session, copy, payload, self.forward_format, [forward], now=now, actor=actor)
        return target

    def _note_stale(
        self, session: Session, delivery: Delivery, status: m.Envelope, *, now: datetime, actor: str
    ) -> None:
        body = status.body
        assert isinstance(body, m.StatusReport)
        audit.record(
            session,
            at=now,
            actor=actor,
            action="delivery.stale_status",
            subject=f"delivery:{delivery.id}",
            detail={
                "status": body.status.value,
                "status_at": body.at.isoformat(),
                "status_packet": str(status.packet_id),
                "kept": delivery.ack_status,
                "kept_packet": delivery.ack_packet_id,
            },
        )
        log.warning(
            "delivery %s to %s: %s of %s (status packet %s) is older than the %s already applied; not applied",
            delivery.id,
            delivery.destination,
            body.status.value,
            body.at.isoformat(),
            status.packet_id,
            delivery.ack_status,
        )

    def _flag_late(
        self, session: Session, delivery: Delivery, status: m.Envelope, current: S, *, now: datetime, actor: str
    ) -> None:
        body = status.body
        assert isinstance(body, m.StatusReport)
        what = f"late {body.status.value} after {current.value}" + (f": {body.reason}" if body.reason else "")
        delivery.attention = what[:2000]
        delivery.updated_at = now
        audit.record(
            session,
            at=now,
            actor=actor,
            action="delivery.late_status",
            subject=f"delivery:{delivery.id}",
            detail={
                "state": current.value,
                "status": body.status.value,
                "reason": body.reason,
                "status_packet": str(status.packet_id),
                "packet": delivery.packet_id,
                "destination": delivery.destination,
            },
        )
        log.error(
            "delivery %s to %s: %s (status packet %s); the state stays %s, an operator must decide",
            delivery.id,
            delivery.destination,
            what,
            status.packet_id,
            current.value,
        )

    def intake_status(
        self,
        status: m.Envelope,
        destination: str | None = None,
        *,
        actor: str,
        origin: StatusOrigin | None = None,
    ) -> str:
        """Take in an asynchronous status packet (webhook or poll); idempotent on its MaGoiTin.

        Only the deliveries whose receiver is the packet's ``DonViGui`` can change, and only when the
        packet is addressed to us and ``origin`` (signer, posting client) binds to that unit
        (``gateway.delivery.binding``); a refusal raises ``StatusUnbound`` and changes nothing."""
        body = status.body
        if not isinstance(body, m.StatusReport):
            raise NotFound("not a TRANG_THAI_BAO_CAO packet")
        check_origin(status, origin, self.own_unit, "status packet")
        sender = status.sender.code
        allowed = destinations_of(sender, self.receivers)
        if destination is not None:
            allowed = allowed & {destination}
        now = self.clock.now()
        with self.sessions.begin() as session:
            query = select(Delivery).where(
                Delivery.packet_id == str(body.original_packet_id), Delivery.destination.in_(sorted(allowed))
            )
            deliveries = session.execute(query.with_for_update()).scalars().all()
            if not deliveries:
                raise NotFound(f"no delivery of packet {body.original_packet_id} to unit {sender}")
            seen = session.get(StatusReceipt, str(status.packet_id))
            if seen is not None:
                # The same MaGoiTin with other content is not a repeat: it would be dropped as one (found
                # by probing the intake from outside); the packet intake answers 409 there too.
                again = (str(body.original_packet_id), body.status.value, redact(body.reason) if body.reason else None)
                if (seen.original_packet_id, seen.status, seen.reason) != again:
                    raise Conflict(
                        f"status packet {status.packet_id} was received before with other content "
                        f"({seen.status} for packet {seen.original_packet_id}); a new status needs a new MaGoiTin"
                    )
                return "duplicate"
            check_answers(status, _answered(session, str(body.original_packet_id)), "status packet")
            outcomes = set()
            for delivery in deliveries:
                current = S(delivery.state)
                if current in (S.DELIVERED, S.ACKNOWLEDGED, S.SENDING):
                    stale = _older(session, delivery, _given(body.at, now))
                    self._apply_status(session, delivery, status, now=now, actor=actor)
                    outcomes.add("stale" if stale else "applied")
                else:  # returned, rejected, dead, cancelled: the province acts next; kept, said, audited
                    outcomes.add("not_applied")
                    audit.record(
                        session,
                        at=now,
                        actor=actor,
                        action="delivery.status_not_applied",
                        subject=f"delivery:{delivery.id}",
                        detail={
                            "state": current.value,
                            "status": body.status.value,
                            "status_packet": str(status.packet_id),
                        },
                    )
            if session.get(StatusReceipt, str(status.packet_id)) is None:
                session.add(_receipt(status, now))
        # What the sender is told, as it happened: a status that changed a delivery, one older than the
        # status a delivery holds, or one for a delivery in a state it no longer moves from (all three
        # were answered "applied": found from outside).
        return next(o for o in ("applied", "stale", "not_applied") if o in outcomes)

    # ------------------------------------------------------------------ replay
    def poll_statuses(self, poll_after: dict[str, float], limit: int = 50) -> int:
        """Poll receivers for status packets of deliveries ``delivered`` but not yet answered.
        ``poll_after`` maps each pollable destination to its delay; returns how many were polled."""
        now = self.clock.now()
        polled = 0
        for destination, after in poll_after.items():
            connector = self.connectors.get(destination)
            if connector is None:
                continue
            with self.sessions() as session:
                rows = session.execute(
                    select(Delivery.id, Delivery.packet_id)
                    .where(
                        Delivery.destination == destination,
                        Delivery.state == S.DELIVERED.value,
                        Delivery.updated_at <= now - timedelta(seconds=after),
                    )
                    .order_by(Delivery.updated_at)
                    .limit(limit)
                ).all()
            for delivery_id, packet_id in rows:
                polled += 1
                try:
                    status = connector.poll_status(packet_id)
                except SignatureInvalid as exc:
                    log.warning("status of %s from %s refused: %s", packet_id, destination, exc)
                    with self.sessions.begin() as session:
                        _audit_refused(session, exc, destination, now=now, actor=f"poller:{self.worker_id}")
                    status = None
                except (DeliveryError, InputError) as exc:
                    log.warning("status poll of %s at %s failed: %s", packet_id, destination, exc)
                    status = None
                if status is not None:
                    try:
                        self.intake_status(status, destination, actor=f"poller:{self.worker_id}")
                    except Conflict as exc:  # a reused MaGoiTin with other content: said, not applied
                        log.warning("status of %s from %s not applied: %s", packet_id, destination, exc)
                    except StatusUnbound as exc:  # names another report, or not ours: refused, audited
                        log.warning("status of %s from %s refused: %s", packet_id, destination, exc)
                        with self.sessions.begin() as session:
                            _audit_refused(session, exc, destination, now=now, actor=f"poller:{self.worker_id}")
                else:
                    with self.sessions.begin() as session:  # not yet: look again after the same delay
                        session.execute(
                            update(Delivery)
                            .where(Delivery.id == delivery_id, Delivery.state == S.DELIVERED.value)
                            .values(updated_at=now)
                            .execution_options(synchronize_session=False)
                        )
        return polled

    def resume(self, destination: str, *, actor: str) -> None:
        with self.sessions.begin() as session:
            set_paused(session, destination, False, reason=None, now=self.clock.now(), actor=actor)

    def cancel(self, delivery_id: int, *, actor: str, reason: str) -> S:
        """An operator decides a waiting or parked delivery must not be sent (a duplicate, a report
        sent by hand): it becomes ``cancelled``, audited with the reason. Never for one in flight."""
        now = self.clock.now()
        with self.sessions.begin() as session:
            delivery = session.get(Delivery, delivery_id, with_for_update=True)
            if delivery is None:
                raise NotFound(f"delivery {delivery_id} does not exist")
            current = S(delivery.state)
            if S.CANCELLED not in states.ALLOWED[current]:
                raise Conflict(
                    f"delivery {delivery_id} is {current.value}; only pending, dead, returned or "
                    "rejected deliveries can be cancelled"
                )
            transition(session, delivery, S.CANCELLED, now=now, actor=actor, why=f"cancelled: {reason}")
            delivery.lease_until = None
            return S.CANCELLED

    def replay(self, delivery_ids: list[int], *, actor: str) -> list[int]:
        """Send dead, rejected or returned deliveries again, same idempotency key; audited."""
        now = self.clock.now()
        replayed = []
        with self.sessions.begin() as session:
            for delivery_id in delivery_ids:
                delivery = session.get(Delivery, delivery_id, with_for_update=True)
                if delivery is None:
                    raise NotFound(f"delivery {delivery_id} does not exist")
                if S(delivery.state) not in (S.DEAD, S.REJECTED, S.RETURNED):
                    continue
                transition(
                    session,
                    delivery,
                    S.PENDING,
                    now=now,
                    actor=actor,
                    why="replay requested",
                    detail={"attempts_before": delivery.attempts},
                )
                delivery.attempts = 0
                delivery.created_at = now
                delivery.next_attempt_at = now
                replayed.append(delivery_id)
        return replayed


def _answered(session: Session, packet_id: str) -> Answered:
    """What the packet a status answers says of its report (nothing, for a packet we do not hold)."""
    row = session.execute(
        select(Packet.packet_type, Packet.regime_code, Packet.period_key, Packet.reporting_unit, Packet.revision).where(
            Packet.id == packet_id
        )
    ).first()
    return answered(*row) if row is not None else Answered(None, None, None, None)


def _receipt(status: m.Envelope, now: datetime) -> StatusReceipt:
    """The record of a status packet taken in (its MaGoiTin makes intake idempotent)."""
    body = status.body
    assert isinstance(body, m.StatusReport)
    return StatusReceipt(
        packet_id=str(status.packet_id),
        original_packet_id=str(body.original_packet_id),
        status=body.status.value,
        reason=redact(body.reason) if body.reason else None,
        received_at=now,
        status_at=_given(body.at, now),
    )


def _given(at: datetime, now: datetime) -> datetime:
    """When a status was given, for ordering: its ``ThoiGian``, but never later than we received it (a
    status dated in the future, by a skewed clock or on purpose, would otherwise outrank every later one)."""
    try:
        return min(as_utc(at), as_utc(now))
    except OverflowError:  # year 1 at +14:00 has no UTC: the rules refuse it; never a 500 if one slips by
        return as_utc(now)


def _older(session: Session, delivery: Delivery, at: datetime) -> bool:
    """Whether the delivery already holds a status the receiver gave after ``at`` (``ThoiGian``). A
    receipt from before migration 0015 has no time: arrival order decides, as it did then."""
    if not delivery.ack_packet_id:
        return False
    applied = session.scalar(select(StatusReceipt.status_at).where(StatusReceipt.packet_id == delivery.ack_packet_id))
    return applied is not None and as_utc(applied) > as_utc(at)
