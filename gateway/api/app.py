"""The FastAPI application factory: health, readiness and the status-packet intake."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from gateway import __version__, audit, metrics
from gateway.api import problems
from gateway.bootstrap import Gateway
from gateway.db.engine import is_at_head
from gateway.errors import SignatureInvalid
from gateway.packets.safe import Limits, check_size

INTAKE_LIMITS = Limits(max_bytes=16 * 1024 * 1024)


def create_app(gateway: Gateway) -> FastAPI:
    app = FastAPI(title="National-interchange gateway", version=__version__)
    app.state.gateway = gateway
    problems.install(app)
    service = gateway.delivery_service("api")

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> JSONResponse:
        """Database reachable and migrated, broker reachable, circuit summary."""
        checks: dict[str, Any] = {}
        try:
            with gateway.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
            checks["migrations"] = "at head" if is_at_head(gateway.engine) else "behind: run gateway db upgrade"
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        try:
            with gateway.broker.connection() as conn:
                conn.ensure_connection(max_retries=1)
            checks["broker"] = "ok"
        except Exception as exc:
            checks["broker"] = f"unreachable: {type(exc).__name__}"
        checks["circuits"] = gateway.circuits.snapshot()
        ready = checks.get("database") == "ok" and checks.get("migrations") == "at head" and checks["broker"] == "ok"
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503
        )

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    def prometheus_metrics() -> Response:
        """Prometheus exposition: delivery state from SQL and this process's event metrics."""
        return Response(metrics.render(gateway), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/intake/status", tags=["intake"], status_code=202)
    async def intake_status(request: Request) -> dict[str, str]:
        """Receive a ``TRANG_THAI_BAO_CAO`` packet from a receiver (idempotent on its MaGoiTin)."""
        declared = request.headers.get("content-length")
        if declared and declared.isdigit():
            check_size(int(declared), "request body", INTAKE_LIMITS)
        data = await request.body()
        try:
            packet, signer = await run_in_threadpool(
                gateway.inbound.read, data, source="request body", limits=INTAKE_LIMITS
            )
        except SignatureInvalid as exc:
            client = request.client.host if request.client else "unknown"
            await run_in_threadpool(_audit_refusal, gateway, exc, client)
            raise
        actor = f"receiver:{packet.sender.code}" + (f" (signed: {signer.subject})" if signer else "")
        result = await run_in_threadpool(service.intake_status, packet, actor=actor)
        return {"result": result, "MaGoiTin": str(packet.packet_id)}

    return app


def _audit_refusal(gateway: Gateway, exc: SignatureInvalid, client: str) -> None:
    with gateway.sessions.begin() as session:
        audit.record(
            session,
            at=gateway.clock.now(),
            actor=f"client:{client}",
            action="signature.rejected",
            subject="intake:status",
            detail={"code": exc.code, "reason": str(exc)},
        )
