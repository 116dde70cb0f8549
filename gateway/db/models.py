"""Core records, as SQLAlchemy 2 typed mappings. The schema is migrated by Alembic only.

State columns carry CHECK constraints generated from the same enums the code uses, so a state the
code does not know can never be stored.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ColumnElement,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    exists,
    select,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


USER_ROLES = ("admin", "operator", "auditor", "approver")
"""Roles of people: admin (everything, manages accounts), operator (watch and steer), auditor (read-only),
approver (a leader who approves or rejects reports before they are signed and sent)."""
CLIENT_ROLES = ("admin", "operator", "auditor", "ministry", "receiver", "metrics")
"""Machine clients may also be a ministry (pulls what its grants name), a receiver (posts status
packets to our intake) or a metrics scraper."""

NO_DEADLINE = datetime(9999, 12, 31, tzinfo=UTC)
"""Sort key of deliveries without a deadline: after every delivery that has one."""


class DeliveryState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    ACKNOWLEDGED = "acknowledged"
    RETURNED = "returned"
    REJECTED = "rejected"
    DEAD = "dead"
    CANCELLED = "cancelled"


def _in(column: str, enum: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(e.value) for e in enum)})"


class IngestState(StrEnum):
    """``running`` -> ``completed`` | ``failed``; ``unchanged`` when the source's content was already
    ingested (nothing read, nothing stored)."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    UNCHANGED = "unchanged"


UNFINISHED_INGEST = (IngestState.RUNNING.value, IngestState.FAILED.value)
"""Runs whose observations and quarantine records nobody may see (a failed run's are deleted with it;
listing it here too keeps a half-cleaned run invisible)."""


class IngestRun(Base):
    """One read of one source. Its observations are committed in batches while it runs and become
    visible only when it completes; a failed or abandoned run's rows are deleted."""

    __tablename__ = "ingest_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(1000))
    adapter: Mapped[str] = mapped_column(String(100))
    mapping_version: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    read: Mapped[int] = mapped_column(Integer, default=0)
    mapped: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)
    blank: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(20), default=IngestState.COMPLETED.value)
    content_hash: Mapped[str | None] = mapped_column(String(64), comment="SHA-256 of the source's bytes (or records)")
    input_hash: Mapped[str | None] = mapped_column(
        String(64), index=True, comment="content + adapter + options + mapping + reporting unit: equal means no-op"
    )
    reporting_unit: Mapped[str | None] = mapped_column(String(100))
    added: Mapped[int] = mapped_column(Integer, default=0, comment="values stored for the first time")
    changed: Mapped[int] = mapped_column(Integer, default=0, comment="values that replace a different stored value")
    unchanged: Mapped[int] = mapped_column(Integer, default=0, comment="values equal to the stored ones: not stored")
    outside_regime: Mapped[int] = mapped_column(Integer, default=0, comment="values no regime will send")
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON, comment="changed values, corrections, reasons")
    error: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str | None] = mapped_column(String(200))
    pid: Mapped[int | None] = mapped_column(Integer)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        CheckConstraint(_in("state", IngestState), name="state"),
        Index("ix_ingest_runs_state", "state"),
    )


class ObservationLink(Base):
    """Which packet carries an observation: a row per observation sent, written when its report is
    built (``gateway.reports.link_ids``), re-pointed when a correction carries it in a new revision.

    A table of its own, not a column of ``observations`` (issue 19, migration 0013): linking a
    national load by ``UPDATE observations SET packet_id`` rewrote every row of the period and, on
    PostgreSQL, every index of each row (a non-HOT update: 26 s of the 57 s build of 996,300 values,
    and as many dead rows to vacuum); inserting the links is a narrow append.

    No foreign keys (migration 0014): PostgreSQL checks one by a trigger per row, and the two cost
    10 of the 16 s of linking a national month. Both ends are guaranteed by the only writer instead:
    ``link_ids`` runs in the transaction that stores the packet, with ids it has just read, and
    nothing deletes a packet; the one delete of observations (a failed ingest run, whose values
    were never visible to a build) removes their links with them (``ingest_runs``)."""

    __tablename__ = "observation_links"
    observation_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    packet_id: Mapped[str] = mapped_column(String(36), index=True)


class Observation(Base):
    """One value of one indicator, period, reporting unit and disaggregation, with its source."""

    __tablename__ = "observations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ingest_run_id: Mapped[int] = mapped_column(ForeignKey("ingest_runs.id"))
    regime_code: Mapped[str] = mapped_column(String(100))
    form_code: Mapped[str] = mapped_column(String(100))
    indicator_code: Mapped[str] = mapped_column(String(100), comment="national MaChiTieu")
    source_indicator_code: Mapped[str] = mapped_column(String(100))
    unit: Mapped[str] = mapped_column(String(100))
    period_key: Mapped[str] = mapped_column(String(40))
    reporting_unit: Mapped[str] = mapped_column(String(100))
    disaggregation: Mapped[list[list[str]]] = mapped_column(JSON, default=list)
    column_code: Mapped[str | None] = mapped_column(
        String(40), comment="MaCot: the form's column (TH month, LK cumulative, KH plan ...), when the source has one"
    )
    admin_code_list: Mapped[str | None] = mapped_column(String(40), comment="code-list version of DVHC codes")
    value: Mapped[str] = mapped_column(String(64), comment="plain decimal text, never float")
    source_ref: Mapped[str] = mapped_column(String(1000))
    content_hash: Mapped[str] = mapped_column(String(64))
    value_key: Mapped[str | None] = mapped_column(
        String(64), comment="SHA-256 of what the value is of (report, indicator, disaggregation), not of the value"
    )
    mapping_version: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    packet_id: Mapped[str | None] = column_property(
        select(ObservationLink.packet_id)
        .where(ObservationLink.observation_id == id)
        .correlate_except(ObservationLink)
        .scalar_subquery()
    )
    """The packet that carries the value (``observation_links``), None while unsent: read-only here;
    ``gateway.reports.link_ids`` writes it. Hot paths filter with ``unsent()`` (an anti-join) instead."""
    __table_args__ = (
        # The period first: a report (all four equal) and a period's reconciliation use it (0013).
        # Then the value key: a re-read finds a report's stored values by it (0014), and a batch of
        # one report's values lands in one part of the index, not on a random page per value. The run
        # and the indicator last: which reports wait to be built, and a period's KPI values, are read
        # from the index alone, not from a table row per value.
        Index(
            "ix_observations_report",
            "period_key",
            "regime_code",
            "form_code",
            "reporting_unit",
            "value_key",
            "ingest_run_id",
            "indicator_code",
        ),
        Index("ix_observations_ingest_run", "ingest_run_id"),
    )


def unsent() -> ColumnElement[bool]:
    """Observations no packet carries yet: an anti-join on ``observation_links`` (the planner can
    hash it over a national load, where the ``packet_id`` subquery would be asked row by row)."""
    return ~exists().where(ObservationLink.observation_id == Observation.id)


class Packet(Base):
    """One TT 02/2021 packet as built and stored; revisions supersede, never overwrite."""

    __tablename__ = "packets"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, comment="MaGoiTin")
    packet_type: Mapped[str] = mapped_column(String(40))
    profile: Mapped[str] = mapped_column(String(40))
    regime_code: Mapped[str | None] = mapped_column(String(100))
    form_code: Mapped[str | None] = mapped_column(String(100))
    period_key: Mapped[str | None] = mapped_column(String(40))
    reporting_unit: Mapped[str | None] = mapped_column(String(100))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    content_type: Mapped[str] = mapped_column(String(60))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    payload_hash: Mapped[str] = mapped_column(String(64))
    value_count: Mapped[int] = mapped_column(Integer, default=0)
    mapping_version: Mapped[str | None] = mapped_column(String(200))
    deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deliveries: Mapped[list[Delivery]] = relationship(back_populates="packet")
    __table_args__ = (
        UniqueConstraint(
            "packet_type",
            "regime_code",
            "form_code",
            "period_key",
            "reporting_unit",
            "revision",
            name="report_revision",
        ),
        Index("ix_packets_period", "period_key", "packet_type"),  # reconciliation of a period
    )


class PacketFigures(Base):
    """The figures of one report packet as reconciliation compares them, written by the outbox when it
    stores the packet (``gateway.reconciliation.figures``), so reconciling a period never parses the
    stored packets. A packet stored before migration 0012 gets its row on its first reconciliation."""

    __tablename__ = "packet_figures"
    packet_id: Mapped[str] = mapped_column(ForeignKey("packets.id"), primary_key=True)
    figures: Mapped[str] = mapped_column(
        Text, comment="JSON [[indicator(/column), disaggregation key, value, unit], ...] in packet order"
    )


class Delivery(Base):
    """One packet to one destination; the idempotency key never changes across retries or restarts."""

    __tablename__ = "deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    packet_id: Mapped[str] = mapped_column(ForeignKey("packets.id"))
    destination: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(20), default=DeliveryState.PENDING.value)
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    drain_order: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), comment="the deadline, or NO_DEADLINE: the order backlogs drain in (indexed)"
    )
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    ack_status: Mapped[str | None] = mapped_column(String(40), comment="TrangThai of the latest status packet")
    ack_packet_id: Mapped[str | None] = mapped_column(String(36))
    ack_reason: Mapped[str | None] = mapped_column(Text)
    sent_out_of_band_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="exported in a fallback bundle for the document-management channel"
    )
    payload: Mapped[bytes | None] = mapped_column(
        LargeBinary, comment="the bytes for this destination when they differ from the packet's (format, receiver)"
    )
    content_type: Mapped[str | None] = mapped_column(String(60))
    attention: Mapped[str | None] = mapped_column(
        Text, comment="why an operator must look although the state is settled"
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    packet: Mapped[Packet] = relationship(back_populates="deliveries")
    attempt_log: Mapped[list[DeliveryAttempt]] = relationship(
        back_populates="delivery", order_by="DeliveryAttempt.number"
    )
    __table_args__ = (
        CheckConstraint(_in("state", DeliveryState), name="state"),
        UniqueConstraint("packet_id", "destination", name="packet_destination"),
        Index("ix_deliveries_due", "state", "next_attempt_at"),
        Index("ix_deliveries_drain", "state", "drain_order", "next_attempt_at", "id"),
    )


class DestinationState(Base):
    """Operator-visible state of a destination. Paused when it refused our credentials (401 after a
    re-authentication, or 403): nothing is sent there until an operator resumes it."""

    __tablename__ = "destination_states"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    paused: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str | None] = mapped_column(Text)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    changed_by: Mapped[str] = mapped_column(String(200))


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[int] = mapped_column(Integer)
    http_status: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(40))
    error: Mapped[str | None] = mapped_column(Text)
    retry_after: Mapped[float | None] = mapped_column()
    worker: Mapped[str | None] = mapped_column(String(100))
    delivery: Mapped[Delivery] = relationship(back_populates="attempt_log")


class StatusReceipt(Base):
    """Status packets taken in; keyed by their MaGoiTin so intake is idempotent."""

    __tablename__ = "status_receipts"
    packet_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    original_packet_id: Mapped[str] = mapped_column(String(36), index=True)
    status: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="ThoiGian: when the receiver gave the status (migration 0015)"
    )


class ScheduledRun(Base):
    """One run of a regime for one period, recorded once: the unique key makes two schedulers safe."""

    __tablename__ = "scheduled_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    regime_code: Mapped[str] = mapped_column(String(100))
    period_key: Mapped[str] = mapped_column(String(40))
    deadline: Mapped[date] = mapped_column(Date)
    push_on: Mapped[date] = mapped_column(Date)
    executed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    executed_by: Mapped[str] = mapped_column(String(200))
    late: Mapped[bool] = mapped_column(default=False)
    packets: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (UniqueConstraint("regime_code", "period_key", name="regime_period"),)


class QuarantineRecord(Base):
    """Input that could not become an observation or a packet, with where and why; replayable."""

    __tablename__ = "quarantine"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ingest_run_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_runs.id"))
    source: Mapped[str] = mapped_column(String(1000))
    location: Mapped[str] = mapped_column(String(1000))
    raw: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20), default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        CheckConstraint("state IN ('open', 'replayed', 'discarded')", name="state"),
        Index("ix_quarantine_ingest_run", "ingest_run_id"),
    )


class AuditEvent(Base):
    """Append-only, hash-chained: each row's hash covers its content and the previous row's hash."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class ApiClient(Base):
    """A machine client of our API (a ministry system, the national system's callbacks, a scraper).

    Secrets are stored as argon2 hashes only. Rotation keeps the previous hash valid until
    ``previous_valid_until``, so the client can switch without downtime."""

    __tablename__ = "api_clients"
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    grants: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, comment="{regimes: [...], indicators: [...]}")
    secret_hash: Mapped[str] = mapped_column(String(200))
    previous_secret_hash: Mapped[str | None] = mapped_column(String(200))
    previous_valid_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    unit_code: Mapped[str | None] = mapped_column(String(100), comment="receivers: the unit (MaDinhDanh) it speaks for")
    tokens_not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (CheckConstraint(f"role IN ({', '.join(repr(r) for r in CLIENT_ROLES)})", name="role"),)


class ApiUser(Base):
    """An operator account: username and argon2 password hash, one role."""

    __tablename__ = "api_users"
    username: Mapped[str] = mapped_column(String(100), primary_key=True)
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    tokens_not_before: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="tokens issued earlier are refused (password, role or status changed)"
    )
    __table_args__ = (CheckConstraint(f"role IN ({', '.join(repr(r) for r in USER_ROLES)})", name="role"),)


class RevokedToken(Base):
    """A token ended before its expiry (logout); kept until it would have expired anyway."""

    __tablename__ = "revoked_tokens"
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


INBOUND_STATES = ("accepted", "refused")
PROPOSAL_STATES = ("open", "accepted", "declined")
PROPOSAL_KINDS = ("regime", "form", "outline")


class InboundPacket(Base):
    """A packet sent to us (intake or poll), kept with its raw bytes and the answer we gave: the same
    MaGoiTin with the same bytes gets that answer again, with other bytes a conflict."""

    __tablename__ = "inbound_packets"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, comment="MaGoiTin")
    packet_type: Mapped[str] = mapped_column(String(40))
    sender_code: Mapped[str | None] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(200), comment="api:<client> or poll:<destination>")
    content_type: Mapped[str] = mapped_column(String(60))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    payload_hash: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    signer: Mapped[str | None] = mapped_column(String(500))
    answer: Mapped[bytes] = mapped_column(LargeBinary, comment="the TRANG_THAI_BAO_CAO we answered with")
    routed_to: Mapped[list[str]] = mapped_column(JSON, default=list)
    __table_args__ = (CheckConstraint(f"state IN ({', '.join(repr(s) for s in INBOUND_STATES)})", name="state"),)


class PollCursor(Base):
    """Where the poll connector of a destination has read up to (the receiver's opaque cursor)."""

    __tablename__ = "poll_cursors"
    destination: Mapped[str] = mapped_column(String(100), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(Text)
    polled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received: Mapped[int] = mapped_column(Integer, default=0)


class RegimeProposal(Base):
    """An inbound regime, form or outline, drafted as the YAML it would become, awaiting an admin."""

    __tablename__ = "regime_proposals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inbound_packet_id: Mapped[str] = mapped_column(ForeignKey("inbound_packets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    code: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(String(500), comment="the file it would create or replace")
    draft: Mapped[str] = mapped_column(Text)
    diff: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20), default="open")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_on: Mapped[date] = mapped_column(Date, comment="set-up deadline: 3 working days after receipt")
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        CheckConstraint(f"state IN ({', '.join(repr(s) for s in PROPOSAL_STATES)})", name="state"),
        CheckConstraint(f"kind IN ({', '.join(repr(s) for s in PROPOSAL_KINDS)})", name="kind"),
    )


APPROVAL_STATES = ("awaiting_approval", "approved", "rejected")


class ReportApproval(Base):
    """A report of a regime that needs approval: built, not signed nor queued until an approver says so.

    ``draft`` is the canonical packet (JSON, unsigned) as prepared; approval seals and queues it,
    rejection returns it to the source with the reason. Report state, not delivery state."""

    __tablename__ = "report_approvals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    packet_id: Mapped[str] = mapped_column(String(36), unique=True, comment="MaGoiTin of the draft")
    regime_code: Mapped[str] = mapped_column(String(100))
    form_code: Mapped[str] = mapped_column(String(100))
    period_key: Mapped[str] = mapped_column(String(40))
    reporting_unit: Mapped[str] = mapped_column(String(100))
    value_count: Mapped[int] = mapped_column(Integer, default=0)
    draft: Mapped[str] = mapped_column(Text)
    observation_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    mapping_version: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20), default="awaiting_approval")
    prepared_by: Mapped[str] = mapped_column(String(200))
    prepared_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deadline: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    warn_hours: Mapped[float] = mapped_column(default=24.0)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        CheckConstraint(f"state IN ({', '.join(repr(s) for s in APPROVAL_STATES)})", name="state"),
        Index("ix_report_approvals_state", "state", "deadline"),
        # At most one draft awaiting approval per report (gateway.reports.approval.hold; migration 0010).
        Index(
            "uq_report_approvals_open",
            "regime_code",
            "form_code",
            "period_key",
            "reporting_unit",
            unique=True,
            sqlite_where=text("state = 'awaiting_approval'"),
            postgresql_where=text("state = 'awaiting_approval'"),
        ),
    )
