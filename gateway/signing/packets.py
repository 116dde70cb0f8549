"""Signing and verifying whole packets, JSON or XML, under the active wire profile.

``PacketSigner`` signs bytes produced by ``write_packet``; ``PacketVerifier`` checks received bytes
and returns what was proven signed, ready for ``read_packet``.

The signing time a packet claims (``ThoiGianTao``) is whatever its signer wrote, so it proves nothing
(issue 18, item 7): a revoked or expired key can sign a packet dated before its revocation. Without a
trusted timestamp the certificate is therefore validated *at the time of verification* (expired or
revoked now: refused, whatever the packet claims). The claimed time is still bounded: in the future
(beyond clock skew) or older than ``max_age`` is refused. A packet carrying an RFC 3161 token
(``gateway/signing/timestamps.py``) is validated at the token's time instead, once the token holds:
it covers this signature value and comes from a trusted time-stamping authority. The signer's unit code
(certificate UID) must match the sending unit when it has one.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from lxml import etree

from gateway.clock import Clock, SystemClock, as_utc
from gateway.errors import SignatureInvalid
from gateway.packets import model as m
from gateway.packets import safe
from gateway.packets.canonical import CanonicalEnvelope, CanonicalXml
from gateway.packets.profile import Profile
from gateway.signing import jcs, timestamps, xmldsig
from gateway.signing.keys import KeyRing, SigningKey
from gateway.signing.timestamps import TS_NS, Stamp, TsaClient
from gateway.signing.trust import Signer, TrustStore

CLOCK_SKEW = timedelta(minutes=5)


def _names(profile: Profile) -> tuple[str, str, str, str]:
    return (
        profile.wire(m.Envelope, "signature"),
        profile.wire(m.Signature, "algorithm"),
        profile.wire(m.Signature, "certificate"),
        profile.wire(m.Signature, "value"),
    )


class PacketSigner:
    """Signs outgoing packets with the key ring's current key."""

    def __init__(self, profile: Profile, keys: KeyRing, clock: Clock | None = None):
        self.profile = profile
        self.keys = keys
        self.clock = clock or SystemClock()

    def sign(self, data: bytes) -> bytes:
        """The signed packet. Bytes from ``write_packet(canonical=True)`` (JSON or XML) are hashed as
        they are; any other bytes are parsed and canonicalised first. XML gets an enveloped XML-DSig."""
        return self._sign(data, self.keys.current(self.clock.now()))

    def sign_many(self, packets: Iterable[bytes]) -> list[bytes]:
        """Sign many packets in one pass with one key (looked up once, its certificate encoded once).
        Each packet still gets its own signature: QCVN 125 has no signature over several packets."""
        key = self.keys.current(self.clock.now())
        return [self._sign(data, key) for data in packets]

    def _sign(self, data: bytes, key: SigningKey) -> bytes:
        names = _names(self.profile)
        if isinstance(data, CanonicalEnvelope):  # the writer's RFC 8785 form of an unsigned envelope
            return jcs.sign_canonical(data, key, names)
        if isinstance(data, CanonicalXml):  # the writer's exclusive C14N of an unsigned document
            return xmldsig.sign_canonical(data, key)
        if safe.sniff(data) == "json":
            doc = json.loads(data)
            if not isinstance(doc, dict):
                raise SignatureInvalid("malformed", "a packet is a JSON object", location="packet to sign")
            return jcs.sign_bytes(doc, key, names)
        root = safe.parse_xml(data, "packet to sign")
        strip_signature(root)
        return xmldsig.sign(root, key)


def add_timestamp(signed: bytes, tsa: TsaClient, profile: Profile) -> bytes:
    """The signed packet with an RFC 3161 token over its signature value (``timestamps`` docstring).

    The token sits outside what the signature covers, so the packet's signature is unchanged; raises
    ``TimestampUnavailable`` when the authority cannot be reached or refuses."""
    if safe.sniff(signed) == "json":
        field, _, _, value_name = _names(profile)
        doc = json.loads(signed)
        sig = doc[field]
        old = ("," + json.dumps({field: sig}, ensure_ascii=False, separators=(",", ":"))[1:]).encode("utf-8")
        body = signed.rstrip(b" \t\r\n")
        if not body.endswith(old):  # re-serialising could change a number's spelling, so the signed bytes
            raise SignatureInvalid(
                "malformed",
                f"the packet's {field} is not its last member as the gateway writes it: cannot add a timestamp",
                location="packet to stamp",
            )
        token = tsa.stamp(base64.b64decode(sig[value_name]))
        stamped = {**sig, profile.wire(m.Signature, "timestamp_token"): base64.b64encode(token).decode("ascii")}
        new = ("," + json.dumps({field: stamped}, ensure_ascii=False, separators=(",", ":"))[1:]).encode("utf-8")
        return body[: -len(old)] + new
    root = etree.fromstring(signed)
    signature = root.find(f"{{{xmldsig.DS}}}Signature")
    value = signature.find(f"{{{xmldsig.DS}}}SignatureValue") if signature is not None else None
    if signature is None or value is None:
        raise SignatureInvalid("unsigned", "only a signed packet can be timestamped", location="packet to stamp")
    token = tsa.stamp(base64.b64decode("".join((value.text or "").split())))
    before = bytes(etree.tostring(signature, method="c14n", exclusive=True, with_comments=False))
    holder = etree.SubElement(signature, f"{{{xmldsig.DS}}}Object")
    stamp = etree.SubElement(holder, f"{{{TS_NS}}}DauThoiGian", nsmap={"ts": TS_NS})
    stamp.text = base64.b64encode(token).decode("ascii")
    at = signed.rfind(before)
    if at >= 0 and signed[at + len(before) :].lstrip().startswith(b"</"):
        # The Signature stands in its C14N form (as ``xmldsig.sign_canonical`` writes it): put the
        # stamped Signature, in the same form, in its place, so the document stays one a verifier
        # finds verbatim (``xmldsig.check``) and nothing else in it is re-serialised.
        after = bytes(etree.tostring(signature, method="c14n", exclusive=True, with_comments=False))
        return signed[:at] + after + signed[at + len(before) :]
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


@dataclass(frozen=True)
class Verified:
    """A packet whose signature holds: the bytes to read it from, and who signed it."""

    data: bytes
    signer: Signer
    signed_at: datetime  # the moment the certificate was validated at: verification time, or a token's
    stamp: Stamp | None = None  # the RFC 3161 token's time and authority, when the packet carried one
    document: Any = None  # ``data`` as parsed (JSON object, or XML root without its Signature), or None


class PacketVerifier:
    """Verifies incoming packets against a trust store."""

    def __init__(
        self,
        profile: Profile,
        trust: TrustStore,
        *,
        clock: Clock | None = None,
        max_age: timedelta | None = timedelta(days=30),
        match_sender: bool = True,
    ):
        self.profile = profile
        self.trust = trust
        self.clock = clock or SystemClock()
        self.max_age = max_age
        self.match_sender = match_sender

    def verify(
        self,
        data: bytes,
        source: str = "",
        *,
        at: datetime | None = None,
        limits: safe.Limits = safe.DEFAULT_LIMITS,
        parsed: Any = None,
    ) -> Verified:
        """Raise ``SignatureInvalid`` (distinct ``code``) unless ``data`` carries a valid signature.

        ``at`` is when the packet was received (default now): the certificate must be valid and not
        revoked then; ``max_age`` is measured from it. ``parsed`` is the document ``safe`` already
        made of exactly ``data``; else it is parsed here. Either way it is handed on in
        ``Verified.document`` for ``read_packet(parsed=...)``, one parse per packet (issue 19).

        JSON is parsed with duplicate keys refused but without the depth walk, like ``read_packet``:
        nothing here descends into the document except the RFC 8785 fallback, which bounds the depth
        first (``jcs.verify``), and the reader's closed schema bounds it for the rest.

        The cyclic collector is paused throughout (``validate.gc_paused``, imported here: the
        reader's modules are loaded by who verifies): a JSON packet is thousands of containers, and
        a collection started while they are alive walks them all (a third of the parse's cost in a
        process with a large heap, issue 19); paused only around the parse, the first allocation
        after it ran that collection."""
        from gateway.packets.validate import gc_paused

        with gc_paused():
            return self._verify(data, source, at, limits, parsed)

    def _verify(self, data: bytes, source: str, at: datetime | None, limits: safe.Limits, parsed: Any) -> Verified:
        received = at or self.clock.now()
        if safe.sniff(data) == "json":
            doc = parsed if parsed is not None else safe.parse_json(data, source, limits, check_depth=False)
            if not isinstance(doc, dict):
                raise SignatureInvalid("malformed", "a packet is a JSON object", location=source)
            names = _names(self.profile)
            alg, cert, value = jcs.inspect(doc, names, source)
            self._claimed_time(doc.get(self.profile.wire(m.Envelope, "created_at")), received, source)
            token = doc[names[0]].get(self.profile.wire(m.Signature, "timestamp_token"))
            stamp = self._stamp(token, value, received, source)
            signed_at = stamp.time if stamp else received
            signer = self.trust.validate(cert, signed_at, location=source)
            jcs.verify(doc, alg, cert, value, names[0], source, received=data, max_depth=limits.max_depth)
            sender = _json_sender(doc, self.profile)
            verified = Verified(data, signer, signed_at, stamp, document=doc)
        else:
            root = parsed if parsed is not None else safe.parse_xml(data, source, limits)
            cert, chain = xmldsig.inspect(data, root, source)
            created = root.find(f"{{{self.profile.namespace}}}{self.profile.wire(m.Envelope, 'created_at')}")
            self._claimed_time(created.text if created is not None else None, received, source)
            token_el = root.find(f"{{{xmldsig.DS}}}Signature/{{{xmldsig.DS}}}Object/{{{TS_NS}}}DauThoiGian")
            value_el = root.find(f"{{{xmldsig.DS}}}Signature/{{{xmldsig.DS}}}SignatureValue")
            stamp = None
            if token_el is not None:
                raw = timestamps.decode((value_el.text if value_el is not None else None) or "", source)
                stamp = self._stamp(token_el.text or "", raw, received, source)
            signed_at = stamp.time if stamp else received
            signer = self.trust.validate(cert, signed_at, extra=chain, location=source)
            # One parse: the common signature shape is checked on the tree parsed above; anything
            # else (other transforms, C14N 1.1) goes to signxml as before.
            signed = xmldsig.check(data, root, cert, source)
            document = None
            if signed is None:
                signed = xmldsig.verify(data, cert, source, at=signed_at)
            else:  # hand the parse on as the signed document
                if parsed is None:  # our own tree: take the Signature out, as the transform does
                    xmldsig.unwrap(root)
                # A caller's tree is left as given: its one Signature is the root's last child
                # (inspect), which the packet reader skips, so it reads exactly what was signed.
                document = root
            # The one Reference is URI="" and the Signature is the root's last child (xmldsig.inspect),
            # so everything in ``root`` but the Signature is what was signed: read the sender there.
            sender = _xml_sender(root, self.profile)
            verified = Verified(signed, signer, signed_at, stamp, document=document)
        if verified.stamp is not None:
            stamped = replace(verified.signer, stamped_at=verified.stamp.time, stamped_by=verified.stamp.tsa)
            verified = replace(verified, signer=stamped)
        if self.match_sender and signer.unit_code and sender and signer.unit_code != sender:
            raise SignatureInvalid(
                "signer_mismatch",
                f"the certificate belongs to unit {signer.unit_code}, the packet says it comes from {sender}",
                location=source,
            )
        return verified

    def _stamp(self, token: Any, signature_value: bytes, received: datetime, source: str) -> Stamp | None:
        """The verified token's time, or None without a token; a token that does not hold is a refusal
        (never silently ignored: the sender meant it to prove the time)."""
        if token is None:
            return None
        if not isinstance(token, str) or not token:
            raise SignatureInvalid("timestamp_invalid", "the timestamp token is not a string", location=source)
        stamp = timestamps.verify_token(timestamps.decode(token, source), signature_value, self.trust, source)
        if as_utc(stamp.time) > as_utc(received) + CLOCK_SKEW:
            raise SignatureInvalid(
                "timestamp_invalid", f"the timestamp {stamp.time.isoformat()} is in the future", location=source
            )
        if self.max_age is not None and as_utc(received) - as_utc(stamp.time) > self.max_age:
            raise SignatureInvalid(
                "too_old",
                f"timestamped at {stamp.time.isoformat()}, more than {self.max_age.days} days before receipt",
                location=source,
            )
        return stamp

    def _claimed_time(self, raw: Any, received: datetime, source: str) -> datetime:
        """The signing time the packet claims, bounded by ``received``: never trusted for validity."""
        try:
            signed_at = datetime.fromisoformat(str(raw))
        except ValueError as exc:
            raise SignatureInvalid("malformed", f"signing time {raw!r} is not a timestamp", location=source) from exc
        if signed_at.tzinfo is None:
            raise SignatureInvalid("malformed", "signing time has no UTC offset", location=source)
        if as_utc(signed_at) > as_utc(received) + CLOCK_SKEW:
            raise SignatureInvalid("not_yet_valid", f"signed at {raw}, in the future", location=source)
        if self.max_age is not None and as_utc(received) - as_utc(signed_at) > self.max_age:
            raise SignatureInvalid(
                "too_old", f"signed at {raw}, more than {self.max_age.days} days before receipt", location=source
            )
        return signed_at


def _json_sender(doc: dict[str, Any], profile: Profile) -> str | None:
    unit = doc.get(profile.wire(m.Envelope, "sender"))
    code = unit.get(profile.wire(m.Unit, "code")) if isinstance(unit, dict) else None
    return code if isinstance(code, str) else None


def _xml_sender(root: etree._Element, profile: Profile) -> str | None:
    ns = profile.namespace
    el = root.find(f"{{{ns}}}{profile.wire(m.Envelope, 'sender')}/{{{ns}}}{profile.wire(m.Unit, 'code')}")
    return el.text if el is not None else None


def strip_signature(root: etree._Element) -> None:
    """Remove an enveloped signature (a packet re-serialised for another format is re-signed)."""
    for old in root.findall(f"{{{xmldsig.DS}}}Signature"):
        root.remove(old)
