"""The national reporting system simulator (also serves as a ministry simulator).

Receives: ``POST /api/qcvn125/goi-tin`` with one packet (JSON or XML), validated against the active
profile; answers ``200`` with a ``TRANG_THAI_BAO_CAO`` packet (``DA_TIEP_NHAN``, or ``TRA_LAI`` with a
reason, or ``TU_CHOI`` with every validation error), in the request's format. Deduplicates on
``MaGoiTin`` and counts what it received, so tests can prove "every packet exactly once".
Control: ``GET /sim/stats``, ``PUT /sim/faults`` (a fault plan as JSON), ``POST /sim/reset``.
Faults: 500/503, 429 with ``Retry-After``, timeouts (the request is processed after hanging, as a
slow receiver would), slow bodies, ``TRA_LAI``, and "down" (every request 503).
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from gateway.clock import VN_TZ
from gateway.errors import GatewayError, PacketInvalid
from gateway.packets import model as m
from gateway.packets.validate import read_packet, write_packet
from gateway.sim.faults import FaultPlan, FaultState

RECEIVE_PATH = "/api/qcvn125/goi-tin"


@dataclass
class SimStats:
    requests: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    received: Counter[str] = field(default_factory=Counter)  # MaGoiTin -> times a valid packet arrived
    invalid: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    idempotency_keys: dict[str, set[str]] = field(default_factory=dict)  # MaGoiTin -> keys seen
    arrivals: list[str] = field(default_factory=list)  # MaGoiTin of each valid packet, in arrival order
    lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": self.requests,
                "faults": dict(self.faults),
                "received_total": sum(self.received.values()),
                "unique_packets": len(self.received),
                "duplicates": sum(v - 1 for v in self.received.values()),
                "invalid": self.invalid,
                "statuses": dict(self.statuses),
            }


def create_app(plan: FaultPlan | None = None, *, unit: m.Unit | None = None, name: str = "national") -> FastAPI:
    """A simulator app. ``unit`` is who it answers as (``DonViGui`` of its status packets)."""
    me = unit or m.Unit(code="G01", name="Hệ thống thông tin báo cáo Chính phủ")
    state = FaultState(plan or FaultPlan())
    stats = SimStats()
    returned_once: set[str] = set()
    app = FastAPI(title=f"{name} simulator", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.stats = stats
    app.state.faults = state

    def status_packet(
        packet: m.Envelope,
        status: m.ReportStatus,
        reason: str | None = None,
        details: list[m.ErrorDetail] | None = None,
    ) -> m.Envelope:
        body = packet.body
        now = datetime.now(VN_TZ)
        period = getattr(body, "period", None)
        return m.Envelope(
            packet_id=uuid.uuid4(),
            packet_type=m.PacketType.TRANG_THAI_BAO_CAO,
            profile=packet.profile,
            created_at=now,
            sender=me,
            receiver=packet.sender,
            body=m.StatusReport(
                original_packet_id=packet.packet_id,
                regime_code=getattr(body, "regime_code", "-"),
                period=period
                if isinstance(period, m.Period)
                else m.Period(
                    period_type=m.PeriodType.DOT_XUAT, number=1, year=now.year, start=now.date(), end=now.date()
                ),
                reporting_unit=getattr(body, "reporting_unit", packet.sender),
                revision=getattr(body, "revision", 1),
                status=status,
                at=now,
                handler=f"{name}-simulator",
                reason=reason,
                error_details=details or [],
            ),
        )

    @app.post(RECEIVE_PATH)
    async def receive(request: Request) -> Response:
        fault = state.next()
        with stats.lock:
            stats.requests += 1
            stats.faults[fault] += 1
        p = state.plan
        if fault in ("503", "500"):
            return JSONResponse(
                {
                    "title": "Service Unavailable" if fault == "503" else "Internal Server Error",
                    "detail": "simulated outage",
                },
                status_code=int(fault),
            )
        if fault == "429":
            return JSONResponse(
                {"title": "Too Many Requests", "detail": "simulated throttling"},
                status_code=429,
                headers={"Retry-After": str(int(p.retry_after))},
            )
        if fault == "400":
            return JSONResponse({"title": "Bad Request", "detail": "simulated refusal"}, status_code=400)
        data = await request.body()
        fmt = "xml" if data.lstrip()[:1] == b"<" else "json"
        try:
            packet = read_packet(data, source="request body")
        except PacketInvalid as exc:
            with stats.lock:
                stats.invalid += 1
            return JSONResponse(
                {
                    "title": "Invalid packet",
                    "detail": str(exc),
                    "errors": [{"ViTri": v.location, "MoTa": v.message} for v in exc.violations],
                },
                status_code=422,
            )
        except GatewayError as exc:
            with stats.lock:
                stats.invalid += 1
            return JSONResponse({"title": "Unreadable packet", "detail": str(exc)}, status_code=400)
        pid = str(packet.packet_id)
        with stats.lock:
            stats.received[pid] += 1
            stats.arrivals.append(pid)
            stats.idempotency_keys.setdefault(pid, set()).add(request.headers.get("idempotency-key", ""))
        if fault == "return" and pid not in returned_once:
            returned_once.add(pid)
            answer = status_packet(packet, m.ReportStatus.TRA_LAI, p.return_reason)
        else:
            answer = status_packet(packet, m.ReportStatus.DA_TIEP_NHAN)
        with stats.lock:
            stats.statuses[answer.body.status.value] += 1  # type: ignore[attr-defined]
        if fault == "timeout":
            # The receiver has stored the packet but answers too late: the sender times out and
            # retries, and deduplication on MaGoiTin must absorb the second copy.
            await asyncio.sleep(p.hang_seconds)
        if fault == "slow":
            await asyncio.sleep(p.slow_seconds)
        payload = write_packet(answer, fmt)  # type: ignore[arg-type]
        return Response(payload, media_type=f"application/{fmt}")

    @app.get("/sim/stats")
    def get_stats() -> dict[str, Any]:
        return stats.snapshot()

    @app.get("/sim/received")
    def get_received() -> dict[str, int]:
        with stats.lock:
            return dict(stats.received)

    @app.put("/sim/faults")
    def put_faults(new: dict[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {k: tuple(v) if k == "script" else v for k, v in new.items()}
        state.replace_plan(FaultPlan(**fields))
        return asdict(state.plan)

    @app.post("/sim/reset")
    def reset() -> dict[str, str]:
        with stats.lock:
            stats.requests = stats.invalid = 0
            stats.faults.clear()
            stats.received.clear()
            stats.statuses.clear()
            stats.idempotency_keys.clear()
            stats.arrivals.clear()
        return {"status": "reset"}

    return app
