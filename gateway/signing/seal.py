"""Sealing an outgoing packet: serialise, validate, check signed attachments, sign.

Every place that puts a packet into the outbox calls ``Sealer.seal``, so the rules are the same for
scheduled reports, corrections, recalls and forwarded statuses: a packet is signed once, when it is
built (the act that gives a report its legal value), and the signed bytes are what every retry and
every replay sends. A packet goes out signed when any of its destinations asks for signatures
(``destinations.<name>.sign``, on by default). With no signing key configured, such a packet is not
sealed at all (``SigningUnavailable``, before anything is stored): unsigned bytes would be refused
by the receiver, and the retries and replays of a stored packet would send them again unchanged.

With a time-stamping authority configured (``[timestamps]``), every signature also gets an RFC 3161
token (``gateway.signing.timestamps``). When the authority cannot answer, ``required`` (the default)
raises ``TimestampUnavailable`` before anything is stored (the scheduler's run is not recorded and is
tried again at its next tick; the API answers 503; the CLI exits 75), so no packet is lost nor sent
without its proof; ``best_effort`` seals without a token, logs a warning and counts it
(``gateway_timestamps{outcome="skipped"}``).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

from gateway.errors import SignatureInvalid, SigningUnavailable, TimestampUnavailable
from gateway.packets import model as m
from gateway.packets.profile import Profile

if TYPE_CHECKING:  # certificate validation (pyhanko-certvalidator) is imported only where it is used
    from gateway.signing.packets import PacketSigner
    from gateway.signing.timestamps import TsaClient
    from gateway.signing.trust import Signer, TrustStore

log = logging.getLogger(__name__)

PDF_MEDIA_TYPE = "application/pdf"  # here, not in gateway.signing.pdf, so checking for one needs no pyHanko


class Sealer:
    def __init__(
        self,
        profile: Profile,
        signer: PacketSigner | None = None,
        signing_destinations: Iterable[str] = (),
        trust: TrustStore | None = None,
        tsa: TsaClient | None = None,
        tsa_required: bool = True,
    ):
        self.profile = profile
        self.signer = signer
        self.signing_destinations = frozenset(signing_destinations)
        self.trust = trust
        self.tsa = tsa
        self.tsa_required = tsa_required

    def signs_for(self, destinations: Iterable[str]) -> bool:
        """Whether a packet for these destinations goes out signed."""
        return self.signer is not None and bool(self.signing_destinations.intersection(destinations))

    def seal(self, envelope: m.Envelope, fmt: Literal["json", "xml"], destinations: Iterable[str]) -> bytes:
        if self.trust is not None:
            verify_attachments(envelope, self.trust)
        from gateway.packets.validate import write_packet  # the writer (lxml, jsonschema-rs) when sealing

        destinations = list(destinations)
        signing = self.signer is not None and self.signs_for(destinations)
        # A signed packet is written at once in the form its signature covers (JSON: RFC 8785; XML: the
        # exclusive C14N): the signer hashes those bytes as they are.
        payload = write_packet(envelope, fmt, profile=self.profile, canonical=signing)
        return self.sign_written(payload, str(envelope.packet_id), destinations)

    def sign_written(self, payload: bytes, packet_id: str, destinations: Iterable[str]) -> bytes:
        """Sign (and time-stamp) a packet already written and validated by the packet writer, when
        these destinations ask for signatures; otherwise the bytes as they are. ``seal`` ends here;
        the report builder, which writes its packets from rows (``write_report_json``), calls it
        directly."""
        destinations = list(destinations)
        if self.signer is None:
            wanted = sorted(self.signing_destinations.intersection(destinations))
            if wanted:
                raise SigningUnavailable(
                    f"packet {packet_id} not sealed: {', '.join(wanted)} require signed packets "
                    f"(destinations.<name>.sign = true) and no signing key is configured ([[signing.keys]], "
                    "docs/signing.md); nothing was stored"
                )
            return payload
        if not self.signs_for(destinations):
            return payload
        payload = self.signer.sign(payload)
        if self.tsa is not None:
            payload = self._stamped(payload, packet_id)
        return payload

    def _stamped(self, signed: bytes, packet_id: str) -> bytes:
        from gateway import metrics
        from gateway.signing.packets import add_timestamp

        assert self.tsa is not None
        try:
            stamped = add_timestamp(signed, self.tsa, self.profile)
        except TimestampUnavailable as exc:
            if self.tsa_required:
                metrics.TIMESTAMPS.labels(outcome="failed").inc()
                log.error("packet %s not sealed: no timestamp (timestamps.mode = required): %s", packet_id, exc)
                raise
            metrics.TIMESTAMPS.labels(outcome="skipped").inc()
            log.warning("packet %s sealed WITHOUT a timestamp (timestamps.mode = best_effort): %s", packet_id, exc)
            return signed
        metrics.TIMESTAMPS.labels(outcome="stamped").inc()
        return stamped


def verify_attachments(envelope: m.Envelope, trust: TrustStore) -> list[Signer]:
    """Check every signed PDF in ``TepDinhKem`` against the trust store and the reporting unit.

    pyHanko is imported only when a packet carries a PDF: it is a third of the gateway's import time,
    and every command, worker and scheduler would otherwise pay it at start (issue 19)."""
    body = envelope.body
    attachments = getattr(body, "attachments", None) or []
    unit = getattr(body, "reporting_unit", None)
    code = unit.code if isinstance(unit, m.Unit) else envelope.sender.code
    signers: list[Signer] = []
    for index, attachment in enumerate(attachments, start=1):
        if attachment.media_type != PDF_MEDIA_TYPE:
            continue
        from gateway.signing.pdf import verify_pdf

        where = f"packet {envelope.packet_id} attachment {index} ({attachment.file_name})"
        try:
            data = base64.b64decode(attachment.data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SignatureInvalid("malformed", "attachment data is not base64", location=where) from exc
        signers.extend(verify_pdf(data, trust, unit_code=code, source=where))
    return signers
