"""The ministry pull API (``/v1``): reports, packets, indicator series, catalogues.

Ministries see only what their grants name: lists are filtered, and asking for something outside the
grant by name (a regime, an indicator, a packet) is a 403 that is audited.
"""

import json
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy import Select, and_, exists, or_, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from gateway.api.middleware import etag_of
from gateway.api.schemas import (
    DeliveryBrief,
    Disaggregation,
    PacketCursor,
    PacketSummary,
    Page,
    QueryPeriod,
    QueryTimestamp,
    Series,
    SeriesPoint,
    packet_cursor,
    problem_responses,
    read_packet_cursor,
)
from gateway.api.security import Security
from gateway.auth.principals import Permission, Principal
from gateway.catalogues import CATALOGUE_TYPES, build_catalogue
from gateway.clock import as_utc
from gateway.db.engine import read_only
from gateway.db.models import Delivery, DeliveryState, Observation, Packet, PacketFigures
from gateway.errors import InputError, NotAcceptable, NotFound
from gateway.packets import model as m
from gateway.packets.convert import convert
from gateway.packets.profile import Profile
from gateway.packets.validate import read_packet, write_packet
from gateway.reconciliation.report import period_order

REPORT_TYPES = (
    m.PacketType.SO_LIEU_BAO_CAO.value,
    m.PacketType.SO_LIEU_DANH_SACH.value,
    m.PacketType.GUI_DE_CUONG.value,
)
PULL_ERRORS = problem_responses(400, 401, 403, 413, 414, 422, 429)
PACKET_MEDIA = {
    "application/json": {"schema": {"type": "object"}},
    "application/xml": {"schema": {"type": "string"}},
}


@dataclass(frozen=True)
class StoredPacket:
    """A packet's bytes as stored, with what serving them needs."""

    payload: bytes
    content_type: str
    regime: str | None
    etag: str


class PacketCache:
    """Recently pulled packets by id, least recently used out first, bounded in bytes.

    Why: a ministry polls the same reports; reading a 1 MB row, hashing it for the ETag and a
    thread-pool hop for the SQL were most of ``GET /v1/packets/{id}`` (issue 19). A stored packet
    never changes: the gateway inserts packet rows and never updates or deletes them (a correction
    is a new packet with its own id), so an entry cannot go stale. Used from the event loop only."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.size = 0
        self._items: OrderedDict[str, StoredPacket] = OrderedDict()

    def get(self, packet_id: str) -> StoredPacket | None:
        found = self._items.get(packet_id)
        if found is not None:
            self._items.move_to_end(packet_id)
        return found

    def put(self, packet_id: str, stored: StoredPacket) -> None:
        if len(stored.payload) > self.max_bytes // 4 or packet_id in self._items:
            return
        self._items[packet_id] = stored
        self.size += len(stored.payload)
        while self.size > self.max_bytes:
            _, dropped = self._items.popitem(last=False)
            self.size -= len(dropped.payload)


def _packet_query(
    principal: Principal,
    *,
    types: tuple[str, ...] | None,
    packet_type: str | None,
    regime: str | None,
    form: str | None,
    period: str | None,
    unit: str | None,
    status: str | None,
    updated_since: datetime | None,
    cursor: tuple[datetime, str] | None,
    limit: int,
) -> Select[Packet]:
    query = select(Packet)
    if types:
        query = query.where(Packet.packet_type.in_(types))
    if packet_type:
        query = query.where(Packet.packet_type == packet_type)
    for column, value in ((Packet.regime_code, regime), (Packet.form_code, form), (Packet.period_key, period)):
        if value:
            query = query.where(column == value)
    if unit:
        query = query.where(Packet.reporting_unit == unit)
    if status:
        query = query.where(exists().where(Delivery.packet_id == Packet.id, Delivery.state == status))
    if updated_since:
        since = as_utc(updated_since)
        query = query.where(
            or_(
                Packet.created_at >= since,
                exists().where(Delivery.packet_id == Packet.id, Delivery.updated_at >= since),
            )
        )
    if principal.scoped and "*" not in principal.grants.regimes:
        query = query.where(Packet.regime_code.in_(sorted(principal.grants.regimes)))
    if cursor:
        at, last = cursor
        query = query.where(or_(Packet.created_at > at, and_(Packet.created_at == at, Packet.id > last)))
    return query.order_by(Packet.created_at, Packet.id).limit(limit + 1)


def _in_grant(session: Session, packets: list[Packet], principal: Principal, profile: Profile) -> dict[str, int]:
    """For a caller granted some indicators only: each packet that holds any of them, with how many
    of its values the grant covers (what the packet's own route would serve). Lists used to show
    every packet of a granted regime, with its full value count, though the packet itself answered
    403 (found by probing the API from outside). Report packets are read from ``packet_figures``;
    others (and reports stored before it) from the packet, as the packet's route reads them."""
    ids = [p.id for p in packets]
    query = select(PacketFigures.packet_id, PacketFigures.figures).where(PacketFigures.packet_id.in_(ids))
    stored: dict[str, str] = {k: v for k, v in session.execute(query)} if ids else {}
    counts: dict[str, int] = {}
    for packet in packets:
        if packet.id in stored:
            granted = sum(principal.grants.indicator(f[0].split("/")[0]) for f in json.loads(stored[packet.id]))
            if granted:
                counts[packet.id] = granted
            continue
        envelope = read_packet(packet.payload, source=f"packet {packet.id}", profile=profile)
        view, withheld = _granted_view(envelope, principal)
        if view is not None:
            counts[packet.id] = packet.value_count - withheld
    return counts


def _summaries(session: Session, packets: list[Packet], counts: dict[str, int] | None = None) -> list[PacketSummary]:
    ids = [p.id for p in packets]
    deliveries: dict[str, list[DeliveryBrief]] = {}
    if ids:
        for d in session.scalars(select(Delivery).where(Delivery.packet_id.in_(ids)).order_by(Delivery.id)):
            deliveries.setdefault(d.packet_id, []).append(
                DeliveryBrief(
                    destination=d.destination, state=d.state, ack_status=d.ack_status, updated_at=d.updated_at
                )
            )
    return [
        PacketSummary(
            packet_id=p.id,
            packet_type=p.packet_type,
            regime=p.regime_code,
            form=p.form_code,
            period=p.period_key,
            reporting_unit=p.reporting_unit,
            revision=p.revision,
            value_count=p.value_count if counts is None else counts[p.id],
            content_type=p.content_type,
            created_at=p.created_at,
            deliveries=deliveries.get(p.id, []),
        )
        for p in packets
    ]


def build_router(security: Security) -> APIRouter:
    gw = security.gateway
    router = APIRouter(prefix="/v1", tags=["pull"], responses=PULL_ERRORS)
    puller = Annotated[Principal, Depends(security.requires(Permission.PULL))]
    page_max = gw.settings.api.page_size_max
    cache = PacketCache(gw.settings.api.packet_cache_mb * 1024 * 1024)

    def guard_regime(principal: Principal, request: Request, regime: str | None) -> None:
        if principal.scoped and regime and not principal.grants.regime(regime):
            raise security.deny(principal, request, f"no grant for regime {regime}")

    def listing(
        principal: Principal, types: tuple[str, ...] | None, cursor: str | None, limit: int, **filters: Any
    ) -> Page[PacketSummary]:
        query = _packet_query(principal, types=types, cursor=read_packet_cursor(cursor), limit=limit, **filters)
        with gw.sessions() as session:
            packets = list(session.scalars(query))
            more = len(packets) > limit
            packets = packets[:limit]
            if principal.scoped and "*" not in principal.grants.indicators:
                # A page may come out shorter than ``limit``; the cursor still follows what was read.
                counts = _in_grant(session, packets, principal, gw.profile)
                items = _summaries(session, [p for p in packets if p.id in counts], counts)
            else:
                items = _summaries(session, packets)
        last = packets[-1] if packets and more else None
        return Page[PacketSummary](items=items, next_cursor=packet_cursor(last.created_at, last.id) if last else None)

    @router.get("/reports", response_model=Page[PacketSummary], operation_id="list_reports")
    def list_reports(
        principal: puller,
        request: Request,
        regime: str | None = None,
        form: str | None = None,
        period: Annotated[QueryPeriod | None, Query(description="e.g. 2026-THANG-10")] = None,
        reporting_unit: str | None = None,
        status: Annotated[DeliveryState | None, Query(description="a delivery state, e.g. acknowledged")] = None,
        updated_since: QueryTimestamp | None = None,
        cursor: PacketCursor = None,
        limit: Annotated[int, Query(ge=1, le=page_max)] = 100,
    ) -> Page[PacketSummary]:
        """Report packets (numbers, lists, narrative reports) with their delivery status per destination."""
        guard_regime(principal, request, regime)
        return listing(
            principal,
            REPORT_TYPES,
            cursor,
            limit,
            packet_type=None,
            regime=regime,
            form=form,
            period=period,
            unit=reporting_unit,
            status=status.value if status else None,
            updated_since=updated_since,
        )

    @router.get("/packets", response_model=Page[PacketSummary], operation_id="list_packets")
    def list_packets(
        principal: puller,
        request: Request,
        packet_type: Annotated[m.PacketType | None, Query(alias="type")] = None,
        regime: str | None = None,
        period: QueryPeriod | None = None,
        reporting_unit: str | None = None,
        updated_since: QueryTimestamp | None = None,
        cursor: PacketCursor = None,
        limit: Annotated[int, Query(ge=1, le=page_max)] = 100,
    ) -> Page[PacketSummary]:
        """Every packet the gateway stored (reports, status packets, corrections), filtered."""
        guard_regime(principal, request, regime)
        return listing(
            principal,
            None,
            cursor,
            limit,
            packet_type=packet_type.value if packet_type else None,
            regime=regime,
            form=None,
            period=period,
            unit=reporting_unit,
            status=None,
            updated_since=updated_since,
        )

    @router.get(
        "/packets/{packet_id}",
        operation_id="get_packet",
        responses={200: {"content": PACKET_MEDIA, "description": "the packet"}, **problem_responses(404, 406)},
    )
    async def get_packet(packet_id: str, principal: puller, request: Request) -> Response:
        """The packet as stored (signed), in JSON or XML by ``Accept``; converting to the other
        format re-serialises it and drops the signature (``X-Signature: not-carried``)."""
        stored = cache.get(packet_id)
        if stored is None:
            stored = await run_in_threadpool(read_stored, packet_id)
            if stored is None:
                raise NotFound(f"packet {packet_id} does not exist")
            cache.put(packet_id, stored)
        if principal.scoped and not principal.grants.regime(stored.regime):
            why = f"no grant for the regime of packet {packet_id}"
            raise await run_in_threadpool(security.deny, principal, request, why)
        wanted = _negotiate(request.headers.get("accept", "*/*"), stored.content_type)
        if wanted == stored.content_type and not (principal.scoped and "*" not in principal.grants.indicators):
            # The hot path (issue 19): bytes and ETag from memory, no thread hop, no SQL.
            return Response(stored.payload, media_type=stored.content_type, headers={"etag": stored.etag, **VARY})
        return await run_in_threadpool(other_view, packet_id, stored, wanted, principal, request)

    def read_stored(packet_id: str) -> StoredPacket | None:
        with read_only(gw.engine) as conn:  # one Core statement: the bytes as stored, no ORM object
            row = conn.execute(
                select(Packet.payload, Packet.content_type, Packet.regime_code).where(Packet.id == packet_id)
            ).first()
        if row is None:
            return None
        payload, content_type, regime = row
        return StoredPacket(payload, content_type, regime, etag_of(payload))

    def other_view(
        packet_id: str, stored: StoredPacket, wanted: str, principal: Principal, request: Request
    ) -> Response:
        """The packet in the other format, or narrowed to the caller's indicator grant."""
        payload = stored.payload
        withheld = 0
        envelope: m.Envelope | None = None
        if principal.scoped and "*" not in principal.grants.indicators:
            envelope = read_packet(payload, source=f"packet {packet_id}", profile=gw.profile)
            envelope, withheld = _granted_view(envelope, principal)
            if envelope is None:
                raise security.deny(principal, request, f"no grant for any indicator of packet {packet_id}")
        if wanted == stored.content_type and not withheld:
            return Response(payload, media_type=stored.content_type, headers={"etag": stored.etag, **VARY})
        if withheld and envelope is not None:
            # The view is ours, not the signer's: it says so, and it carries no signature to mislead.
            # It is not re-validated: removing figures cannot make a value invalid, but it can break a
            # cross-figure rule (a total without its parts) that held for the packet as signed.
            headers = {
                **VARY,
                "X-Signature": "not-carried",
                "X-Grant-Filtered": f"{withheld} figure(s) outside your grant withheld; unsigned view",
            }
            body = write_packet(envelope, _format(wanted), profile=gw.profile, validate=False)
            return Response(body, media_type=wanted, headers=headers)
        converted = convert(payload, _format(wanted), source=f"packet {packet_id}", profile=gw.profile)
        # Whether or not the stored packet was signed, no signature travels with another format.
        return Response(converted.payload, media_type=wanted, headers={"X-Signature": "not-carried", **VARY})

    @router.get("/indicators/{indicator}/series", response_model=Series, operation_id="indicator_series")
    def indicator_series(
        indicator: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,100}$")],
        principal: puller,
        request: Request,
        reporting_unit: Annotated[list[str] | None, Query()] = None,
        period_from: Annotated[
            QueryPeriod | None, Query(alias="from", description="period key, e.g. 2026-THANG-01")
        ] = None,
        period_to: Annotated[QueryPeriod | None, Query(alias="to")] = None,
        disaggregation: Annotated[
            list[Annotated[str, Query(pattern=r"^[^:]+:.+$")]] | None,
            Query(description="DIMENSION:VALUE, e.g. GIOI_TINH:NU; repeat for several"),
        ] = None,
        column: Annotated[
            str | None,
            Query(pattern=r"^[A-Za-z0-9_.-]{1,40}$", description="only this form column (MaCot), e.g. TH or LK"),
        ] = None,
    ) -> Series:
        """Values sent for one national indicator (the latest revision of each period and unit)."""
        if principal.scoped and not principal.grants.indicator(indicator):
            raise security.deny(principal, request, f"no grant for indicator {indicator}")
        wanted = sorted(_pair(d) for d in disaggregation or [])
        query = (
            select(Observation, Packet.revision, Packet.period_key)
            .join(Packet, Packet.id == Observation.packet_id)
            .where(Observation.indicator_code == indicator)
        )
        if reporting_unit:
            query = query.where(Observation.reporting_unit.in_(reporting_unit))
        if column is not None:
            query = query.where(Observation.column_code == column)
        if principal.scoped and "*" not in principal.grants.regimes:
            query = query.where(Observation.regime_code.in_(sorted(principal.grants.regimes)))
        latest: dict[tuple[str, str, str, str], SeriesPoint] = {}
        with gw.sessions() as session:
            for obs, revision, packet_period in session.execute(query.order_by(Packet.revision)):
                period_key = str(packet_period or obs.period_key)
                dis = sorted((str(a), str(b)) for a, b in obs.disaggregation)
                if wanted and dis != wanted:
                    continue
                if not _in_range(period_key, period_from, period_to):
                    continue
                latest[(period_key, obs.reporting_unit, repr(dis), obs.column_code or "")] = SeriesPoint(
                    period=period_key,
                    reporting_unit=obs.reporting_unit,
                    value=obs.value,
                    unit=obs.unit,
                    disaggregation=[Disaggregation(dimension=a, value=b) for a, b in dis],
                    column=obs.column_code,
                    packet_id=str(obs.packet_id),
                    revision=revision,
                )
        points = sorted(latest.values(), key=lambda p: (period_order(p.period), p.reporting_unit, p.column or ""))
        return Series(indicator=indicator, points=points)

    @router.get(
        "/catalogues/{kind}",
        operation_id="get_catalogue",
        responses={200: {"content": PACKET_MEDIA, "description": "a catalogue packet"}, **problem_responses(404)},
    )
    def get_catalogue(
        kind: m.PacketType,
        principal: puller,
        request: Request,
        year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    ) -> Response:
        """A ``DANH_MUC_*`` or ``BO_CHI_SO`` packet describing the codes our reports use."""
        del principal
        if kind not in CATALOGUE_TYPES:
            raise NotFound(f"{kind.value} is not a catalogue ({', '.join(t.value for t in CATALOGUE_TYPES)})")
        settings = gw.settings
        national = settings.destinations.get("national")
        receiver = (
            m.Unit(code=national.receiver.code, name=national.receiver.name)
            if national
            else m.Unit(code="G01", name="Hệ thống thông tin báo cáo Chính phủ")
        )
        envelope = build_catalogue(
            kind,
            profile=gw.profile,
            sender=m.Unit(code=settings.sender.code, name=settings.sender.name),
            receiver=receiver,
            now=gw.clock.now(),
            year=year,
        )
        wanted = _negotiate(request.headers.get("accept", "*/*"), "application/json")
        return Response(write_packet(envelope, _format(wanted), profile=gw.profile), media_type=wanted)

    return router


def _granted_view(envelope: m.Envelope, principal: Principal) -> tuple[m.Envelope | None, int]:
    """The packet as far as ``principal``'s indicator grant reaches: (view, figures withheld).

    A report's figures outside the grant are removed (and the signature with them); a packet whose
    indicators cannot be separated (a list or outline) is served only when every indicator it names is
    granted. None when nothing in it is granted."""
    body = envelope.body
    if isinstance(body, m.ReportFigures):
        kept = [f for f in body.figures if principal.grants.indicator(f.indicator_code)]
        withheld = len(body.figures) - len(kept)
        if not withheld:
            return envelope, 0
        if not kept:
            return None, withheld
        view = body.model_copy(update={"figures": kept})
        return envelope.model_copy(update={"body": view, "signature": None}), withheld
    named = _indicator_codes(body.model_dump())
    if all(principal.grants.indicator(code) for code in named):
        return envelope, 0
    return None, len(named)


def _indicator_codes(value: Any) -> set[str]:
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            code = item.get("indicator_code")
            if isinstance(code, str):
                found.add(code)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _format(media_type: str) -> Literal["json", "xml"]:
    return "xml" if media_type == "application/xml" else "json"


VARY = {"vary": "Accept"}
"""A packet's URL serves JSON or XML by ``Accept``: caches must keep them apart."""


def _quality(accept: str, kind: str) -> float:
    """How much ``accept`` wants ``kind`` (RFC 9110 12.5.1): the q of the most specific range that
    matches it (``application/json`` over ``application/*`` over ``*/*``), 0 when none does."""
    best, quality = -1, 0.0
    # text/xml names the same thing as application/xml (RFC 7303): a client asking for it gets XML,
    # not a 406 (found from outside); text/* takes XML too, as the text it is.
    exact = {kind, "text/xml"} if kind == "application/xml" else {kind}
    families = {f"{kind.split('/')[0]}/*"} | ({"text/*"} if kind == "application/xml" else set())
    for part in accept.split(","):
        media, *params = [p.strip() for p in part.split(";")]
        media = media.lower()
        rank = 2 if media in exact else 1 if media in families else 0 if media == "*/*" else -1
        if rank <= best:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        best, quality = rank, q
    return quality


def _negotiate(accept: str, stored: str) -> str:
    """The format to serve: the one ``Accept`` wants most, the stored one (signed, no conversion) on a
    tie; ``q=0`` excludes a format. Found from outside: q-values were ignored, so ``application/xml;
    q=0.9, application/json;q=0.1`` and even ``application/json;q=0, application/xml`` got JSON."""
    if not accept.strip():
        return stored
    other = "application/xml" if stored == "application/json" else "application/json"
    wants = {kind: _quality(accept, kind) for kind in (stored, other)}
    chosen = max((stored, other), key=lambda kind: wants[kind])  # max keeps the first (stored) on a tie
    if wants[chosen] <= 0:
        raise NotAcceptable(f"this resource is available as application/json or application/xml, not {accept}")
    return chosen


def _pair(text: str) -> tuple[str, str]:
    dimension, sep, value = text.partition(":")
    if not sep or not dimension or not value:
        raise InputError(f"disaggregation {text!r} must be DIMENSION:VALUE")
    return dimension, value


def _in_range(key: str, start: str | None, end: str | None) -> bool:
    order = period_order(key)
    return (start is None or order >= period_order(start)) and (end is None or order <= period_order(end))
