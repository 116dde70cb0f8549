"""The operator API (``/v1/ops``): queues, deliveries with attempt history, replay and cancel,
quarantine and its replay, scheduler status and upcoming deadlines, audit search; and what ``/readyz``
answers (``readiness``)."""

import re
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import Response
from sqlalchemy import select, text

from gateway import storage
from gateway.api.schemas import (
    Attempt,
    AuditItem,
    Cancelled,
    DeliveryDetail,
    DeliveryId,
    DeliveryItem,
    DestinationQueue,
    IdCursor,
    Page,
    QuarantineItem,
    QuarantineReplay,
    QuarantineReplayed,
    QueryDate,
    QueryPeriod,
    QueryTimestamp,
    Queues,
    ReconciliationView,
    Replayed,
    RunItem,
    SchedulerView,
    Upcoming,
    problem_responses,
    read_id_cursor,
)
from gateway.api.security import Security
from gateway.auth.principals import Permission, Principal
from gateway.bootstrap import Gateway
from gateway.clock import VN_TZ, as_utc
from gateway.db.engine import is_at_head, unreachable
from gateway.db.models import (
    AuditEvent,
    Delivery,
    DeliveryAttempt,
    DeliveryState,
    QuarantineRecord,
    ScheduledRun,
)
from gateway.delivery.queues import destinations
from gateway.errors import NotFound
from gateway.ingest_runs import visible_quarantine
from gateway.reconciliation.export import to_csv, to_xlsx
from gateway.scheduler import upcoming

COMMON_ERRORS = problem_responses(400, 401, 403, 413, 414, 422, 429)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


T = TypeVar("T", bound=Delivery | QuarantineRecord | AuditEvent)


def readiness(gateway: Gateway) -> tuple[bool, dict[str, Any]]:
    """Whether this gateway can work now, and each check: "ok" or what is wrong, named by host and port.

    The broker is checked as the worker uses it (connect, then declare the queue): a queue that
    exists with other arguments refuses every consumer while a bare connection succeeds, and a
    refused password is not an outage to wait out."""
    checks: dict[str, Any] = {"database": _database_check(gateway)}
    if checks["database"] == "ok":
        checks["migrations"] = "at head" if is_at_head(gateway.engine) else "behind: run gateway db upgrade"
    checks["broker"] = _broker_check(gateway)
    free = storage.free_bytes(gateway.settings.data_dir)
    checks["disk"] = (
        "ok" if free is None or free >= storage.MIN_FREE_BYTES else storage.describe(gateway.settings.data_dir)
    )
    checks["circuits"] = gateway.circuits.snapshot()
    ready = (
        checks["database"] == "ok"
        and checks.get("migrations") == "at head"
        and checks["broker"] == "ok"
        and checks["disk"] == "ok"
    )
    return ready, checks


def _database_check(gateway: Gateway) -> str:
    try:
        with gateway.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return unreachable(exc, gateway.engine.url) or f"error: {type(exc).__name__}: {str(exc).splitlines()[0]}"
    return "ok"


def _broker_check(gateway: Gateway) -> str:
    from gateway.messaging import BrokerUnavailable

    try:
        gateway.broker.check()
    except BrokerUnavailable as exc:
        return str(exc)
    return "ok"


def _keyset(rows: list[T], limit: int) -> tuple[list[T], str | None]:
    """One page of a list fetched with ``limit + 1`` rows, and the cursor to the next (the last id)."""
    if len(rows) > limit:
        return rows[:limit], str(rows[limit - 1].id)
    return rows, None


def build_router(security: Security) -> APIRouter:
    gw = security.gateway
    router = APIRouter(
        prefix="/v1/ops", tags=["operations"], responses=problem_responses(400, 401, 403, 413, 414, 422, 429)
    )
    reader = Annotated[Principal, Depends(security.requires(Permission.OPS_READ))]
    writer = Annotated[Principal, Depends(security.requires(Permission.OPS_WRITE))]
    page_max = gw.settings.api.page_size_max

    @router.get("/queues", response_model=Queues, operation_id="queues")
    def queues(principal: reader) -> Queues:
        """Deliveries per state and destination, the oldest waiting one, circuit and pause state."""
        with gw.sessions() as session:
            rows = destinations(session, list(gw.settings.destinations), gw.circuits.snapshot(), gw.clock.now())
        total: dict[str, int] = {}
        for row in rows:
            for state, count in row.states.items():
                total[state] = total.get(state, 0) + count
        return Queues(
            destinations=[
                DestinationQueue(
                    destination=row.name,
                    states=row.states,
                    oldest_waiting_seconds=row.oldest_waiting.total_seconds() if row.oldest_waiting else None,
                    circuit=row.circuit,
                    paused=row.paused,
                    paused_reason=row.paused_reason,
                )
                for row in rows
            ],
            total=total,
        )

    @router.get("/deliveries", response_model=Page[DeliveryItem], operation_id="search_deliveries")
    def deliveries(
        principal: reader,
        state: DeliveryState | None = None,
        destination: str | None = None,
        packet_id: str | None = None,
        cursor: IdCursor = None,
        limit: Annotated[int, Query(ge=1, le=page_max)] = 100,
    ) -> Page[DeliveryItem]:
        """Deliveries, newest first."""
        query = select(Delivery)
        if state:
            query = query.where(Delivery.state == state.value)
        if destination:
            query = query.where(Delivery.destination == destination)
        if packet_id:
            query = query.where(Delivery.packet_id == packet_id)
        after = read_id_cursor(cursor)
        if after is not None:
            query = query.where(Delivery.id < after)
        with gw.sessions() as session:
            rows, cursor_out = _keyset(
                list(session.scalars(query.order_by(Delivery.id.desc()).limit(limit + 1))), limit
            )
            return Page[DeliveryItem](items=[DeliveryItem.model_validate(d) for d in rows], next_cursor=cursor_out)

    @router.get(
        "/deliveries/{delivery_id}",
        response_model=DeliveryDetail,
        operation_id="get_delivery",
        responses=problem_responses(404),
    )
    def delivery(delivery_id: DeliveryId, principal: reader) -> DeliveryDetail:
        """One delivery with every attempt (time, duration, HTTP status, outcome, error)."""
        with gw.sessions() as session:
            found = session.get(Delivery, delivery_id)
            if found is None:
                raise NotFound(f"delivery {delivery_id} does not exist")
            attempts = session.scalars(
                select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id).order_by(DeliveryAttempt.id)
            ).all()
            return DeliveryDetail(
                **DeliveryItem.model_validate(found).model_dump(),
                attempt_history=[Attempt.model_validate(a) for a in attempts],
            )

    @router.post(
        "/deliveries/{delivery_id}/replay",
        response_model=Replayed,
        operation_id="replay_delivery",
        responses=problem_responses(404),
    )
    def replay(delivery_id: DeliveryId, principal: writer) -> Replayed:
        """Send a dead, returned or rejected delivery again (same idempotency key); audited."""
        service = gw.delivery_service("api")
        replayed = service.replay([delivery_id], actor=principal.actor)
        gw.publish(replayed)
        return Replayed(replayed=replayed)

    @router.post(
        "/deliveries/{delivery_id}/cancel",
        response_model=Cancelled,
        operation_id="cancel_delivery",
        responses=problem_responses(404, 409),
    )
    def cancel(
        delivery_id: DeliveryId,
        principal: writer,
        reason: Annotated[str, Body(embed=True, min_length=3, max_length=1000)],
    ) -> Cancelled:
        """Decide that a waiting or parked delivery must not be sent; audited with the reason."""
        state = gw.delivery_service("api").cancel(delivery_id, actor=principal.actor, reason=reason)
        return Cancelled(cancelled=delivery_id, state=state.value)

    @router.get("/quarantine", response_model=Page[QuarantineItem], operation_id="list_quarantine")
    def quarantine(
        principal: reader,
        state: Annotated[str | None, Query(pattern="^(open|replayed|discarded)$")] = "open",
        cursor: IdCursor = None,
        limit: Annotated[int, Query(ge=1, le=page_max)] = 100,
    ) -> Page[QuarantineItem]:
        """Quarantined input with its location and reason."""
        query = select(QuarantineRecord).where(visible_quarantine())  # not of a run still running
        if state:
            query = query.where(QuarantineRecord.state == state)
        after = read_id_cursor(cursor)
        if after is not None:
            query = query.where(QuarantineRecord.id > after)
        with gw.sessions() as session:
            rows, cursor_out = _keyset(
                list(session.scalars(query.order_by(QuarantineRecord.id).limit(limit + 1))), limit
            )
            return Page[QuarantineItem](items=[QuarantineItem.model_validate(q) for q in rows], next_cursor=cursor_out)

    @router.post(
        "/quarantine/replay",
        response_model=QuarantineReplayed,
        operation_id="replay_quarantine",
        responses=problem_responses(404, 409),
    )
    def replay_quarantine(request: QuarantineReplay, principal: writer) -> QuarantineReplayed:
        """Map every open quarantine record again with a (fixed) mapping file; audited."""
        from gateway.ingest import replay_mapping
        from gateway.ingest import replay_quarantine as replay_records

        replayed, still_open = replay_records(
            gw.sessions,
            replay_mapping(request.mapping),
            gw.clock,
            reporting_unit=request.reporting_unit or gw.settings.sender.code,
            actor=principal.actor,
        )
        return QuarantineReplayed(replayed=replayed, still_open=still_open)

    @router.get("/scheduler", response_model=SchedulerView, operation_id="scheduler_status")
    def scheduler(principal: reader, days: Annotated[int, Query(ge=1, le=366)] = 45) -> SchedulerView:
        """Recent scheduled runs (late ones flagged) and the deadlines of the next ``days`` days."""
        with gw.sessions() as session:
            recent = session.scalars(select(ScheduledRun).order_by(ScheduledRun.executed_at.desc()).limit(50)).all()
            due = upcoming(session, gw.clock.now(), days)
        return SchedulerView(
            recent_runs=[
                RunItem(
                    regime=r.regime_code,
                    period=r.period_key,
                    deadline=r.deadline,
                    push_on=r.push_on,
                    executed_at=r.executed_at,
                    executed_by=r.executed_by,
                    late=r.late,
                    packets=r.packets,
                )
                for r in recent
            ],
            upcoming=[Upcoming.model_validate(d) for d in due],
        )

    @router.get("/audit", response_model=Page[AuditItem], operation_id="search_audit")
    def audit_search(
        principal: reader,
        action: str | None = None,
        actor: str | None = None,
        subject: str | None = None,
        since: QueryTimestamp | None = None,
        until: QueryDate | None = None,
        cursor: IdCursor = None,
        limit: Annotated[int, Query(ge=1, le=page_max)] = 100,
    ) -> Page[AuditItem]:
        """Audit events, newest first (``gateway audit verify`` checks the chain)."""
        query = select(AuditEvent)
        if action:
            query = query.where(AuditEvent.action == action)
        if actor:
            query = query.where(AuditEvent.actor == actor)
        if subject:
            query = query.where(AuditEvent.subject == subject)
        if since:
            query = query.where(AuditEvent.at >= as_utc(since))
        if until:
            query = query.where(AuditEvent.at < datetime.combine(until + timedelta(days=1), datetime.min.time(), VN_TZ))
        after = read_id_cursor(cursor)
        if after is not None:
            query = query.where(AuditEvent.id < after)
        with gw.sessions() as session:
            rows, cursor_out = _keyset(
                list(session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit + 1))), limit
            )
            return Page[AuditItem](items=[AuditItem.model_validate(e) for e in rows], next_cursor=cursor_out)

    return router


def build_reconciliation_router(security: Security) -> APIRouter:
    """``/v1/reconciliation``: the same report as ``gateway reconcile`` and the dashboard."""
    gw = security.gateway
    router = APIRouter(
        prefix="/v1", tags=["reconciliation"], responses=problem_responses(400, 401, 403, 413, 414, 422, 429)
    )
    reader = Annotated[Principal, Depends(security.requires(Permission.OPS_READ))]

    @router.get(
        "/reconciliation",
        operation_id="reconciliation",
        response_model=ReconciliationView,
        responses={
            200: {
                "description": "summary and lines (JSON), or the same as CSV or an XLSX workbook",
                "content": {
                    "text/csv": {"schema": {"type": "string"}},
                    XLSX: {"schema": {"type": "string", "format": "binary"}},
                },
            },
            **problem_responses(404),
        },
    )
    def reconciliation(
        principal: reader,
        period: Annotated[QueryPeriod | None, Query(description="default: the latest with data")] = None,
        regime: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.-]{1,100}$")] = None,
        format: Annotated[str, Query(pattern="^(json|csv|xlsx)$")] = "json",
    ) -> Any:
        """What the source says vs what was sent vs what the receiver holds, per value and destination."""
        report = gw.reconcile(period=period, regime=regime)
        if report.period is None:
            raise NotFound("no observations yet: nothing to reconcile")
        name = _filename(f"doi-soat-{report.regime or 'tat-ca'}-{report.period}")
        if format == "csv":
            return Response(
                to_csv(report).encode("utf-8"),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": _attachment(name, "csv")},
            )
        if format == "xlsx":
            return Response(
                to_xlsx(report), media_type=XLSX, headers={"Content-Disposition": _attachment(name, "xlsx")}
            )
        return ReconciliationView.model_validate(report.as_json())

    return router


def _filename(text: str) -> str:
    """A download name any client accepts: ASCII letters, digits, dots and dashes."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text)[:120]


def _attachment(name: str, extension: str) -> str:
    return f'attachment; filename="{name}.{extension}"'
