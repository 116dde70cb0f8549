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
import base64
import json
import math
import secrets
import threading
import time
import uuid
from collections import Counter, OrderedDict, deque
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from gateway.clock import VN_TZ
from gateway.errors import GatewayError, PacketInvalid, SignatureInvalid
from gateway.packets import model as m
from gateway.packets import safe
from gateway.packets.validate import gc_paused, read_packet, write_packet
from gateway.signing.packets import PacketSigner, PacketVerifier
from gateway.signing.seal import verify_attachments
from gateway.sim.faults import FaultPlan, FaultState
from gateway.sim.issuer import FEED_PATH, ISSUE_PATH, IssueRequest, PublishRequest, issue, issued

RECEIVE_PATH = "/api/qcvn125/goi-tin"
STATUS_PATH = "/api/qcvn125/trang-thai/{packet_id}"
DATA_PATH = "/api/qcvn125/goi-tin/{packet_id}"  # the receiver's copy of a packet it took in
INLINE_VALIDATION_BYTES = 256 * 1024
"""Packets up to this size are validated on the event loop (a status packet, which is small, always is)."""
DEFAULT_RETAIN = 10_000
"""Packet bodies (and arrivals) a simulator keeps by default: tens of MB of typical report packets."""
TOKEN_PATH = "/token"  # noqa: S105 - a URL path, not a secret


@dataclass
class SimAuth:
    """What the simulated platform demands, as LGSP/WSO2 gateways do (see gateway.connectors.auth)."""

    mode: Literal["none", "bearer", "oauth2", "lgsp", "lgsp_oauth2"] = "none"
    consumer_key: str = "sim-consumer-key"
    consumer_secret: str = "sim-consumer-secret"  # noqa: S105 - a simulator's test credential
    static_tokens: tuple[str, ...] = ()
    lgsp_access_key: str = "sim-access-key"
    lgsp_secret_key: str = "sim-secret-key"  # noqa: S105 - a simulator's test credential
    token_ttl: float = 3600.0
    issued: dict[str, float] = field(default_factory=dict)  # token -> expiry (monotonic)
    token_requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _lgsp_ok(self, header: str | None) -> bool:
        if not header:
            return False
        try:
            data = json.loads(base64.b64decode(header))
        except ValueError:
            return False
        return bool(data.get("AccessKey") == self.lgsp_access_key and data.get("SecretKey") == self.lgsp_secret_key)

    def _basic_ok(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return secrets.compare_digest(user, self.consumer_key) and secrets.compare_digest(
            password, self.consumer_secret
        )

    def issue(self, request: Request) -> dict[str, Any] | None:
        ok = (
            self._lgsp_ok(request.headers.get("lgspaccesstoken"))
            if self.mode == "lgsp_oauth2"
            else (self._basic_ok(request.headers.get("authorization")))
        )
        with self.lock:
            self.token_requests += 1
            if not ok:
                return None
            token = secrets.token_urlsafe(24)
            self.issued[token] = time.monotonic() + self.token_ttl
        return {"access_token": token, "token_type": "Bearer", "expires_in": int(self.token_ttl)}

    def allows(self, request: Request) -> bool:
        if self.mode == "none":
            return True
        if self.mode == "lgsp":
            return self._lgsp_ok(request.headers.get("lgspaccesstoken"))
        bearer = request.headers.get("authorization", "")
        token = bearer[7:] if bearer.startswith("Bearer ") else ""
        if self.mode == "bearer":
            return token in self.static_tokens
        with self.lock:
            expiry = self.issued.get(token)
            return expiry is not None and expiry > time.monotonic()

    def revoke_all(self) -> None:
        with self.lock:
            self.issued.clear()


@dataclass
class SimStats:
    requests: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    received: Counter[str] = field(default_factory=Counter)  # MaGoiTin -> times a valid packet arrived
    invalid: int = 0
    signature_refused: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    idempotency_keys: dict[str, set[str]] = field(default_factory=dict)  # MaGoiTin -> keys seen
    arrivals: deque[str] = field(
        default_factory=deque
    )  # MaGoiTin of valid packets, arrival order (the last ``retain``)
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
                "signature_refused": self.signature_refused,
                "statuses": dict(self.statuses),
            }


class Recent(OrderedDict[str, bytes]):
    """The last ``limit`` entries, oldest dropped first: what the simulator keeps of each packet.

    Why bounded: a soak test sends millions of packets, and a receiver that kept every body would
    measure its own memory instead of the gateway. Counting (``SimStats.received``) is never
    bounded, so exactly-once checks hold at any volume; only the bodies kept for inspection and
    reconciliation are. ``evicted`` says how many were dropped."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        if limit < 1:
            raise ValueError("a simulator must keep at least one packet")
        self.limit = limit
        self.evicted = 0

    def __setitem__(self, key: str, value: bytes) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)
            self.evicted += 1


class SimulatedReset(ConnectionResetError):
    """Raised mid-body so the server drops the connection, as a reset link does."""


async def _trickle(payload: bytes, seconds: float, parts: int = 5) -> AsyncIterator[bytes]:
    """A slow body: the answer arrives in ``parts`` pieces over ``seconds``."""
    step = max(1, len(payload) // parts + 1)
    for i in range(0, len(payload), step):
        await asyncio.sleep(seconds / parts)
        yield payload[i : i + step]


async def _cut_off(payload: bytes) -> AsyncIterator[bytes]:
    yield payload[: len(payload) // 2]
    raise SimulatedReset("simulated connection reset (fault injection)")


def _altered(data: bytes, keep: str) -> bytes:
    """The receiver's copy: as received, or with its first figure's value or unit changed, or recorded
    twice (a receiver that transcribes badly, for reconciliation drills), or garbled (a broken copy
    endpoint). Only JSON packets are altered."""
    if keep not in ("alter_value", "alter_unit", "duplicate", "garble") or data.lstrip()[:1] != b"{":
        return data
    doc = json.loads(data)
    figures = doc.get("NoiDung", {}).get("SoLieu") or []
    if keep == "garble":
        doc.get("NoiDung", {})["SoLieu"] = "garbled"
    elif figures:
        if keep == "duplicate":
            figures.append(dict(figures[0]))
        elif keep == "alter_value":
            figures[0]["GiaTri"] = str(Decimal(figures[0]["GiaTri"]) + 1)
        else:
            figures[0]["DonViTinh"] = "đồng"
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def _read_checked(data: bytes, verifier: PacketVerifier | None) -> tuple[m.Envelope, str | None]:
    """The packet, and why its signature does not hold (None when it does, or nothing is checked).

    One parse per packet, read and then verified under one collector pause and, for a large packet,
    one hand-off to a thread: the verifier reads the parse the reader made (issue 19; it used to parse
    the same bytes again), and the parse is dropped here, not carried back to the event loop."""
    source = "request body"
    with gc_paused():  # thousands of containers: no collector passes over them while they are made and read
        if safe.sniff(data) == "json":
            parsed: Any = safe.parse_json(data, source, check_depth=False)  # the closed schema bounds depth
        else:
            parsed = safe.parse_xml(data, source)
        packet = read_packet(data, source=source, parsed=parsed)
        refusal = _signature_refusal(verifier, data, packet, parsed) if verifier is not None else None
    return packet, refusal


def _signature_refusal(verifier: PacketVerifier, data: bytes, packet: m.Envelope, parsed: Any = None) -> str | None:
    """Why the packet's signature (or a signed attachment) does not hold, or None when it does."""
    try:
        verifier.verify(data, "request body", parsed=parsed)
        verify_attachments(packet, verifier.trust)
    except SignatureInvalid as exc:
        return f"chữ ký số không hợp lệ ({exc.code}): {exc.reason}"
    return None


def _current_window(plan: FaultPlan) -> tuple[float, float] | None:
    now = time.time()
    return next(((s, e) for s, e in plan.down_windows if s <= now < e), None)


def create_app(
    plan: FaultPlan | None = None,
    *,
    unit: m.Unit | None = None,
    name: str = "national",
    auth: SimAuth | None = None,
    signer: PacketSigner | None = None,
    verifier: PacketVerifier | None = None,
    retain: int = DEFAULT_RETAIN,
) -> FastAPI:
    """A simulator app. ``unit`` is who it answers as (``DonViGui`` of its status packets); with a
    ``verifier`` it refuses (``TU_CHOI``) packets whose signature or signed attachments do not verify,
    and with a ``signer`` it signs its status packets, as the real national system does. It keeps
    the bodies (and the arrival order) of the last ``retain`` packets; it counts all of them."""
    me = unit or m.Unit(code="G01", name="Hệ thống thông tin báo cáo Chính phủ")
    state = FaultState(plan or FaultPlan())
    stats = SimStats(arrivals=deque(maxlen=retain))
    returned_once: set[str] = set()
    app = FastAPI(title=f"{name} simulator", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.stats = stats
    last_packets = Recent(retain)  # MaGoiTin -> the bytes last received (for inspection)
    app.state.last_packets = last_packets
    app.state.faults = state
    app.state.auth = access = auth or SimAuth()
    latest_status = Recent(retain)  # MaGoiTin -> latest status packet (JSON), for polling
    callbacks: set[asyncio.Task[None]] = set()

    async def call_back(url: str, payload: bytes, delay: float, times: int, token: str | None) -> None:
        import httpx

        await asyncio.sleep(delay)
        headers = {"content-type": "application/json", **({"authorization": f"Bearer {token}"} if token else {})}
        async with httpx.AsyncClient(timeout=5, trust_env=False) as client:
            for _ in range(times):
                try:
                    answer = await client.post(url, content=payload, headers=headers)
                    if answer.status_code >= 400:
                        with stats.lock:
                            stats.faults[f"callback-{answer.status_code}"] += 1
                        continue
                    with stats.lock:
                        stats.faults["callback"] += 1
                except httpx.HTTPError:
                    with stats.lock:
                        stats.faults["callback-failed"] += 1

    kept = Recent(retain)  # MaGoiTin -> what the receiver holds (as received, or altered)

    @app.get(DATA_PATH)
    def get_data(packet_id: str) -> Response:
        found = kept.get(packet_id)
        if found is None:
            return JSONResponse({"title": "Not found", "detail": "no packet with that MaGoiTin here"}, status_code=404)
        return Response(found, media_type="application/xml" if found.lstrip()[:1] == b"<" else "application/json")

    @app.get(STATUS_PATH)
    def get_status(packet_id: str) -> Response:
        found = latest_status.get(packet_id)
        if found is None:
            return JSONResponse({"title": "Not found", "detail": "no status for that MaGoiTin yet"}, status_code=404)
        return Response(found, media_type="application/json")

    @app.post(TOKEN_PATH)
    async def token(request: Request) -> Response:
        issued = access.issue(request)
        if issued is None:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        return JSONResponse(issued)

    @app.post("/sim/revoke-tokens")
    def revoke_tokens() -> dict[str, str]:
        access.revoke_all()
        return {"status": "revoked"}

    def status_packet(
        packet: m.Envelope,
        status: m.ReportStatus,
        reason: str | None = None,
        details: list[m.ErrorDetail] | None = None,
    ) -> m.Envelope:
        body = packet.body
        now = datetime.now(VN_TZ)
        period = getattr(body, "period", None)
        if isinstance(body, m.KpiData) and body.kpi_values:  # KPI data: the period its values are of
            period = body.kpi_values[0].period
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
        if not access.allows(request):
            with stats.lock:
                stats.requests += 1
                stats.faults["401"] += 1
            return JSONResponse(
                {"title": "Unauthorized", "detail": "missing, expired or unknown credentials"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        fault = state.next()
        with stats.lock:
            stats.requests += 1
            stats.faults[fault] += 1
        p = state.plan
        if fault == "503" and (window := _current_window(p)) is not None:
            return JSONResponse(
                {"title": "Service Unavailable", "detail": "planned maintenance"},
                status_code=503,
                headers={"Retry-After": str(max(1, math.ceil(window[1] - time.time())))},
            )
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
        if fault == "403":
            return JSONResponse({"title": "Forbidden", "detail": "this application may not send here"}, status_code=403)
        data = await request.body()
        fmt: Literal["json", "xml"] = "xml" if data.lstrip()[:1] == b"<" else "json"

        def seal(answer: m.Envelope, as_fmt: Literal["json", "xml"]) -> bytes:
            out = write_packet(answer, as_fmt, canonical=signer is not None)  # signed without re-reading
            return signer.sign(out) if signer is not None else out

        try:
            # A large packet is validated off the event loop (100,000 values take about a second), so the
            # simulator keeps answering its other connections; a small one inline, where the hand-off to
            # a thread would cost more than the validation (a quarter of the simulator's throughput).
            if len(data) > INLINE_VALIDATION_BYTES:
                packet, refusal = await run_in_threadpool(_read_checked, data, verifier)
            else:
                packet, refusal = _read_checked(data, verifier)
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
        if refusal is not None:
            with stats.lock:
                stats.signature_refused += 1
                stats.statuses[m.ReportStatus.TU_CHOI.value] += 1
            answer = status_packet(packet, m.ReportStatus.TU_CHOI, refusal)
            return Response(seal(answer, fmt), media_type=f"application/{fmt}")
        pid = str(packet.packet_id)
        with stats.lock:
            stats.received[pid] += 1
            stats.arrivals.append(pid)
            last_packets[pid] = data
            if p.keep != "lose":
                kept[pid] = _altered(data, p.keep)
            stats.idempotency_keys.setdefault(pid, set()).add(request.headers.get("idempotency-key", ""))
        if fault == "return" and pid not in returned_once:
            returned_once.add(pid)
            answer = status_packet(packet, m.ReportStatus.TRA_LAI, p.return_reason)
        elif fault == "reject":  # read, valid and signed, and refused on its merits (TU_CHOI)
            answer = status_packet(packet, m.ReportStatus.TU_CHOI, p.reject_reason)
        else:
            answer = status_packet(packet, m.ReportStatus.DA_TIEP_NHAN)
        with stats.lock:
            stats.statuses[answer.body.status.value] += 1  # type: ignore[attr-defined]
        if p.ack == "async":
            latest_status[pid] = seal(answer, "json")
            if p.callback_url:
                task = asyncio.create_task(
                    call_back(
                        p.callback_url, latest_status[pid], p.ack_delay, 2 if p.duplicate_ack else 1, p.callback_token
                    )
                )
                callbacks.add(task)
                task.add_done_callback(callbacks.discard)
            return Response(status_code=202)
        if fault == "timeout":
            # The receiver has stored the packet but answers too late: the sender times out and
            # retries, and deduplication on MaGoiTin must absorb the second copy.
            await asyncio.sleep(p.hang_seconds)
        payload = seal(answer, fmt)
        if fault == "slow":
            return StreamingResponse(
                _trickle(payload, p.slow_seconds),
                media_type=f"application/{fmt}",
                headers={"content-length": str(len(payload))},
            )
        if fault == "reset":
            # The packet was stored, then the connection drops mid-answer: the sender cannot know.
            return StreamingResponse(
                _cut_off(payload), media_type=f"application/{fmt}", headers={"content-length": str(len(payload))}
            )
        return Response(payload, media_type=f"application/{fmt}")

    feed: list[bytes] = []  # what the simulator publishes for provinces that poll, in order

    @app.post("/sim/publish")
    def post_publish(request: PublishRequest) -> dict[str, str]:
        """Publish a regime, form or outline on the feed (``FEED_PATH``) instead of posting it."""
        data = issued(request, me, signer)
        with stats.lock:
            feed.append(data)
        return {"published": str(len(feed))}

    @app.get(FEED_PATH)
    def get_feed(cursor: str | None = None) -> dict[str, Any]:
        """Packets published after ``cursor`` (an opaque position), and the cursor to ask with next."""
        start = int(cursor) if cursor and cursor.isdigit() else 0
        with stats.lock:
            items = feed[start : start + 100]
        return {
            "items": [
                {
                    "data": base64.b64encode(d).decode(),
                    "content_type": "application/xml" if d[:1] == b"<" else "application/json",
                }
                for d in items
            ],
            "next": str(start + len(items)),
        }

    @app.post(ISSUE_PATH)
    def post_issue(request: IssueRequest) -> Response:
        """Issue a regime, form or outline to a province's intake (see ``gateway.sim.issuer``)."""
        status, body, ctype = issue(request, me, signer)
        with stats.lock:
            stats.faults[f"issued-{status}"] += 1
        return Response(
            body, status_code=200 if status < 500 else 502, media_type=ctype, headers={"X-Intake-Status": str(status)}
        )

    @app.get("/sim/stats")
    def get_stats() -> dict[str, Any]:
        with stats.lock:
            retained = {"retain": retain, "kept": len(kept), "evicted": kept.evicted}
        return {**stats.snapshot(), "bodies": retained}

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
