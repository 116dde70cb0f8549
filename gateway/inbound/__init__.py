"""Inbound packets: what the Government reporting system or a ministry sends us, of any of the 13 types.

Two ways in: ``POST /v1/intake/packets`` by a client with the ``receiver`` role (bound to the unit it
speaks for), and a poll connector per destination with a ``poll_url`` (``gateway.inbound.poll``).
Both call ``InboundService.receive``, which for every packet:

1. refuses oversize bodies before parsing, and parses with the hardened parsers (``packets.safe``);
2. reads ``MaGoiTin`` and deduplicates on it: the same id with the same bytes gets the very answer
   it got the first time; the same id with other bytes is a ``Conflict`` (409);
3. verifies the signature and validates the packet (schema, model, rules), then binds it to one unit
   with the status intake's own rule (``gateway.delivery.binding.check_origin``): addressed to us,
   signer's unit == ``DonViGui`` == the posting client's unit;
4. stores it with its raw bytes and the answer, audited, in one transaction that also
5. routes it by type through the outbox to the local destinations configured in
   ``[inbound.routes]`` (the provincial reporting system), with the outbox's retries; status packets
   also update our deliveries as the status intake does, and regimes, forms and outlines become
   proposals in the regime inbox (``gateway.regimes_inbox``);
6. answers with a signed ``TRANG_THAI_BAO_CAO``: ``DA_TIEP_NHAN``, or ``TU_CHOI`` with one
   ``LoiChiTiet`` per problem, located by JSON pointer or XPath.

A refused packet is stored too (state ``refused``, its reasons), so the same bytes get the same
refusal and an operator can see what was sent.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from gateway import audit, outbox
from gateway.bootstrap import Gateway
from gateway.clock import VN_TZ
from gateway.db.models import InboundPacket
from gateway.delivery.binding import StatusOrigin, check_origin
from gateway.errors import Conflict, GatewayError, InputError, PacketInvalid, SignatureInvalid
from gateway.packets import model as m
from gateway.packets import safe
from gateway.packets.convert import convert
from gateway.packets.validate import gc_paused, write_packet

log = logging.getLogger(__name__)

INTAKE_LIMITS = safe.Limits(max_bytes=16 * 1024 * 1024)
PROPOSAL_TYPES = (m.PacketType.CHE_DO_BAO_CAO, m.PacketType.BIEU_MAU_BAO_CAO, m.PacketType.BIEU_MAU_DE_CUONG)


@dataclass(frozen=True)
class Answer:
    """What the sender is told: the status packet we signed, and its TrangThai."""

    packet_id: str
    status: m.ReportStatus
    payload: bytes
    content_type: str
    duplicate: bool = False


@dataclass(frozen=True)
class Peeked:
    """What can be read from a packet before it is validated: enough to address an answer."""

    packet_id: str
    fmt: safe.Format
    packet_type: str | None
    sender: m.Unit | None
    document: Any = None  # the hardened parse, handed on to ``Inbound.read``: one parse per packet


def peek(data: bytes, profile: Any, source: str) -> Peeked:
    """``MaGoiTin`` (required: without it nothing can be answered), type and sender, best effort."""
    fmt = safe.sniff(data, source)
    id_name = profile.wire(m.Envelope, "packet_id")
    type_name = profile.wire(m.Envelope, "packet_type")
    sender_name = profile.wire(m.Envelope, "sender")
    code_name, name_name = profile.wire(m.Unit, "code"), profile.wire(m.Unit, "name")
    raw_id: Any
    raw_type: Any
    sender: m.Unit | None = None
    document: Any
    if fmt == "json":
        # No depth walk here (a Python pass over every container): nothing descends into the document
        # before ``Inbound.read``, whose verifier bounds the depth before its RFC 8785 fallback walks
        # it and whose reader's closed schema bounds it (and names a deep document) for the rest.
        with gc_paused():  # thousands of containers: no collector passes over them while they are made
            doc = document = safe.parse_json(data, source, INTAKE_LIMITS, check_depth=False)
        if not isinstance(doc, dict):
            raise InputError("a packet is a JSON object", location=source)
        raw_id, raw_type, raw_sender = doc.get(id_name), doc.get(type_name), doc.get(sender_name)
        if isinstance(raw_sender, dict):
            sender = _unit(raw_sender.get(code_name), raw_sender.get(name_name))
    else:
        root = document = safe.parse_xml(data, source, INTAKE_LIMITS)
        ns = f"{{{profile.namespace}}}"
        raw_id, raw_type = root.findtext(ns + id_name), root.findtext(ns + type_name)
        node = root.find(ns + sender_name)
        if node is not None:
            sender = _unit(node.findtext(ns + code_name), node.findtext(ns + name_name))
    try:
        packet_id = str(uuid.UUID(str(raw_id)))
    except ValueError:
        raise InputError(
            f"no valid {id_name} (a UUID): the packet cannot be answered; fix it and send it again",
            location=f"{source} /{id_name}",
        ) from None
    return Peeked(packet_id, fmt, str(raw_type) if raw_type else None, sender, document)


def _unit(code: Any, name: Any) -> m.Unit | None:
    if isinstance(code, str) and code.strip():
        return m.Unit(code=code.strip()[:100], name=(name if isinstance(name, str) and name.strip() else code)[:4000])
    return None


def reasons_of(exc: GatewayError, fmt: safe.Format = "json", profile: Any = None) -> list[m.ErrorDetail]:
    """One ``LoiChiTiet`` per problem, located in the packet (an XPath or a JSON pointer): ``ViTri`` was
    "packet from api:client" for a refusal that was not a schema or rule error, a name the sender
    cannot look up (found from outside)."""
    from gateway.packets.validate import refusal_details

    return [
        m.ErrorDetail(location=v.location, description=v.message[:4000]) for v in refusal_details(exc, fmt, profile)
    ][:200]


class InboundService:
    """Receives one packet at a time; see the module docstring for the steps."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw

    def receive(self, data: bytes, *, channel: str, client: str, client_unit: str | None) -> Answer:
        gw = self.gw
        source = f"packet from {client}"
        safe.check_size(len(data), source, INTAKE_LIMITS)
        digest = hashlib.sha256(data).hexdigest()
        packet: m.Envelope | None = None
        refusal: GatewayError | None = None
        signer_subject = None
        signer = None
        # One collector pause from the parse in ``peek`` to the end of ``Inbound.read``, which reads
        # that same parse: between two pauses the collector walked every container of it once more.
        with gc_paused():
            peeked = peek(data, gw.profile, source)
            with gw.sessions() as session:
                seen = session.get(InboundPacket, peeked.packet_id)
                if seen is not None:
                    return self._again(seen, digest)
            now = gw.clock.now()
            try:
                packet, signer = gw.inbound.read(data, source=source, limits=INTAKE_LIMITS, parsed=peeked.document)
            except (PacketInvalid, SignatureInvalid, InputError) as exc:
                refusal = exc
            peeked = replace(peeked, document=None)  # the parse is read; not kept while the answer is made
        if packet is not None:
            signer_subject = signer.subject if signer else None
            origin = StatusOrigin(
                signed=signer is not None,
                signer_unit=signer.unit_code if signer else None,
                client_unit=client_unit,
                client=client,
            )
            try:
                check_origin(packet, origin, gw.settings.sender.code, source)
            except (PacketInvalid, SignatureInvalid, InputError) as exc:
                refusal = exc
        status_applied = None
        if packet is not None and refusal is None and packet.packet_type is m.PacketType.TRANG_THAI_BAO_CAO:
            try:
                status_applied = gw.delivery_service(f"intake:{client}").intake_status(
                    packet, actor=f"{client} for {packet.sender.code}"[:200], origin=None
                )
            except GatewayError as exc:
                refusal = exc
        status = m.ReportStatus.TU_CHOI if refusal else m.ReportStatus.DA_TIEP_NHAN
        answer = self._answer(peeked, packet, status, refusal, now)
        content_type = outbox.content_type(peeked.fmt)
        published: list[int] = []
        with gw.sessions.begin() as session:
            if session.get(InboundPacket, peeked.packet_id) is not None:  # a concurrent twin got there first
                session.rollback()
                with gw.sessions() as again:
                    found = again.get(InboundPacket, peeked.packet_id)
                    assert found is not None
                    return self._again(found, digest)
            record = InboundPacket(
                id=peeked.packet_id,
                packet_type=(packet.packet_type.value if packet else (peeked.packet_type or "?"))[:40],
                sender_code=(packet.sender.code if packet else (peeked.sender.code if peeked.sender else None)),
                channel=channel[:200],
                content_type=content_type,
                payload=data,
                payload_hash=digest,
                received_at=now,
                state="refused" if refusal else "accepted",
                reason=str(refusal)[:4000] if refusal else None,
                signer=signer_subject[:500] if signer_subject else None,
                answer=answer,
                routed_to=[],
            )
            session.add(record)
            session.flush()
            if packet is not None and refusal is None:
                record.routed_to, published = self._route(session, packet, data, peeked.fmt, now, client)
                if packet.packet_type in PROPOSAL_TYPES:
                    from gateway.regimes_inbox import propose

                    propose(session, record, packet, now=now, data_dir=gw.settings.data_dir)
            audit.record(
                session,
                at=now,
                actor=client,
                action="inbound.refused" if refusal else "inbound.accepted",
                subject=f"inbound:{peeked.packet_id}",
                detail={
                    "type": record.packet_type,
                    "sender": record.sender_code,
                    "channel": record.channel,
                    "sha256": digest,
                    "signer": signer_subject,
                    **({"reason": record.reason} if refusal else {"routed_to": record.routed_to}),
                    **({"status_intake": status_applied} if status_applied else {}),
                },
            )
        gw.publish(published)
        if refusal:
            log.warning("inbound packet %s from %s refused: %s", peeked.packet_id, client, refusal)
        return Answer(peeked.packet_id, status, answer, content_type)

    def _again(self, seen: InboundPacket, digest: str) -> Answer:
        if seen.payload_hash != digest:
            raise Conflict(
                f"packet {seen.id} was received before with other content (sha256 {seen.payload_hash}); "
                "a MaGoiTin is used once: give the new packet a new MaGoiTin"
            )
        status = m.ReportStatus.TU_CHOI if seen.state == "refused" else m.ReportStatus.DA_TIEP_NHAN
        return Answer(seen.id, status, seen.answer, seen.content_type, duplicate=True)

    def _answer(
        self,
        peeked: Peeked,
        packet: m.Envelope | None,
        status: m.ReportStatus,
        refusal: GatewayError | None,
        now: datetime,
    ) -> bytes:
        gw = self.gw
        local = now.astimezone(VN_TZ)
        ours = m.Unit(code=gw.settings.sender.code, name=gw.settings.sender.name)
        sender = packet.sender if packet else (peeked.sender or m.Unit(code="-", name="-"))
        body = packet.body if packet else None
        period = getattr(body, "period", None)
        if isinstance(body, m.KpiData) and body.kpi_values:  # its values' period, as a sender checks it
            period = body.kpi_values[0].period
        unit = getattr(body, "reporting_unit", None)
        envelope = m.Envelope(
            packet_id=uuid.uuid4(),
            packet_type=m.PacketType.TRANG_THAI_BAO_CAO,
            profile=gw.profile.id,
            created_at=local,
            sender=ours,
            receiver=sender,
            body=m.StatusReport(
                original_packet_id=uuid.UUID(peeked.packet_id),
                regime_code=getattr(body, "regime_code", None) or "-",
                period=period
                if isinstance(period, m.Period)
                else m.Period(
                    period_type=m.PeriodType.DOT_XUAT, number=1, year=local.year, start=local.date(), end=local.date()
                ),
                reporting_unit=unit if isinstance(unit, m.Unit) else sender,
                revision=getattr(body, "revision", None) or 1,
                status=status,
                at=local,
                handler=f"gateway {gw.settings.sender.code}",
                reason=str(refusal)[:4000] if refusal else None,
                error_details=reasons_of(refusal, peeked.fmt, gw.profile) if refusal else [],
            ),
        )
        signer = gw.sealer.signer
        # Written in the form its signature covers, so the signer hashes it without re-reading it.
        payload = write_packet(envelope, peeked.fmt, profile=gw.profile, canonical=signer is not None)
        return signer.sign(payload) if signer is not None else payload

    def _route(
        self, session: Session, packet: m.Envelope, data: bytes, fmt: safe.Format, now: datetime, client: str
    ) -> tuple[list[str], list[int]]:
        """Queue the packet to the local destinations configured for its type: the bytes as received
        (their signature intact) where the destination takes that format, converted elsewhere."""
        gw = self.gw
        routes = gw.settings.inbound.routes
        names = [n for n in routes.get(packet.packet_type.value, routes.get("*", [])) if n]
        if not names:
            return [], []
        own: dict[str, tuple[bytes, str]] = {}
        for name in names[1:]:
            wanted = gw.settings.destinations[name].format
            if wanted != fmt:
                converted = convert(data, wanted, source=f"inbound {packet.packet_id}", profile=gw.profile)
                own[name] = (converted.payload, wanted)
        first = gw.settings.destinations[names[0]].format
        payload = data if first == fmt else convert(data, first, source=f"inbound {packet.packet_id}").payload
        body = packet.body
        period = getattr(body, "period", None)
        _, deliveries = outbox.store(
            session,
            packet,
            payload,
            first,
            names,
            now=now,
            actor=client,
            own_payloads=own,
            report_key=(
                getattr(body, "regime_code", None),
                None,  # not one of our reports: never collides with their revisions
                period.key if isinstance(period, m.Period) else None,
                getattr(body, "revision", None) or 1,
            ),
        )
        return names, [d.id for d in deliveries]
