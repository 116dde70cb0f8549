"""RFC 3161 timestamps: proof from a time-stamping authority (TSA) that a signature existed at a time.

A packet's own date (``ThoiGianTao``) is whatever its signer wrote; a TSA's token is not. When sealing,
the gateway asks a configured TSA (``[timestamps]``) for a token over its signature; a receiver that
finds a token validates the signer's certificate at the token's time instead of "now", so a packet
signed before its key expired or was revoked stays verifiable, and one back-dated after cannot pass.

What the token covers (the message imprint): SHA-256 of the signature value octets (the decoded
``GiaTri`` of a JSON packet, the decoded ``ds:SignatureValue`` of an XML one), as CAdES's
signature-time-stamp does. Where it travels: ``ChuKySo.DauThoiGian`` (base64 DER) in JSON; in XML, a
``ds:Object`` holding ``ts:DauThoiGian`` inside the ``ds:Signature`` (outside what the enveloped
signature covers, so adding it changes nothing that was signed).

The ASN.1, the request's nonce check and the token's CMS validation are pyHanko's
(``pyhanko.sign.timestamps``, ``pyhanko.sign.validation.generic_cms.validate_tst_signed_data``,
already a dependency for signed PDFs); the HTTP exchange is httpx, with the gateway's timeouts and
credentials. A token is accepted when: its CMS signature is intact, its imprint matches the signature
value, the TSA's certificate chains to the trust directory (with its CRLs) at the token's time, and
that certificate's extended key usage is critical and exactly ``timeStamping`` (RFC 3161 §2.3).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import ssl
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
from asn1crypto import cms, tsp
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from gateway.clock import as_utc
from gateway.errors import SignatureInvalid, TimestampUnavailable

if TYPE_CHECKING:
    from gateway.signing.trust import TrustStore

log = logging.getLogger(__name__)

TS_NS = "urn:qcvn125:gw:timestamp"
"""Namespace of ``DauThoiGian`` in XML packets (inside ``ds:Object``)."""
ALLOWED_IMPRINTS = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}
MEDIA_QUERY, MEDIA_REPLY = "application/timestamp-query", "application/timestamp-reply"
__all__ = ["Stamp", "TimestampUnavailable", "TsaClient", "verify_token"]


@dataclass(frozen=True)
class Stamp:
    """A verified token: when the TSA says the signature existed, and who the TSA is."""

    time: datetime
    tsa: str


def imprint(signature_value: bytes) -> bytes:
    return hashlib.sha256(signature_value).digest()


class TsaClient:
    """Requests RFC 3161 tokens over HTTP (RFC 3161 §3.4: POST ``application/timestamp-query``)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        username: str | None = None,
        password: str | None = None,
        bearer: str | None = None,
        ca_bundle: str | None = None,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self._auth = httpx.BasicAuth(username, password or "") if username else None
        self._headers = {"Content-Type": MEDIA_QUERY, "Accept": MEDIA_REPLY}
        if bearer:
            self._headers["Authorization"] = f"Bearer {bearer}"
        self._verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True

    def stamp(self, signature_value: bytes) -> bytes:
        """A DER ``TimeStampToken`` over ``signature_value``, or ``TimestampUnavailable`` saying why."""
        from pyhanko.sign.timestamps.api import TimeStamper
        from pyhanko.sign.timestamps.common_utils import TimestampRequestError, handle_tsp_response

        nonce, request = TimeStamper().request_cms(imprint(signature_value), "sha256")
        try:
            answer = httpx.post(
                self.url,
                content=request.dump(),
                headers=self._headers,
                auth=self._auth,
                timeout=self.timeout,
                verify=self._verify,
            )
        except httpx.HTTPError as exc:
            raise TimestampUnavailable(f"time-stamping authority {self.url}: {type(exc).__name__}: {exc}") from exc
        if answer.status_code != 200:
            raise TimestampUnavailable(f"time-stamping authority {self.url} answered HTTP {answer.status_code}")
        try:
            response = tsp.TimeStampResp.load(answer.content)
            token: cms.ContentInfo = handle_tsp_response(response, nonce)
            return bytes(token.dump())
        except (TimestampRequestError, ValueError, TypeError, KeyError) as exc:
            raise TimestampUnavailable(f"time-stamping authority {self.url}: {exc}") from exc


def decode(text: str, source: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureInvalid("timestamp_invalid", "the timestamp token is not base64", location=source) from exc


def token_info(token: bytes, source: str) -> tuple[cms.SignedData, tsp.TSTInfo]:
    """The token's SignedData and TSTInfo, or ``timestamp_invalid``."""
    try:
        info = cms.ContentInfo.load(token)
        if info["content_type"].native != "signed_data":
            raise ValueError("not a CMS SignedData")
        signed = info["content"]
        tst = signed["encap_content_info"]["content"].parsed
        if not isinstance(tst, tsp.TSTInfo):
            raise ValueError("the SignedData does not hold a TSTInfo")
        _ = tst.native  # a full parse: a broken token fails here
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise SignatureInvalid("timestamp_invalid", f"not an RFC 3161 token ({exc})", location=source) from exc
    return signed, tst


def verify_token(token: bytes, signature_value: bytes, trust: TrustStore, source: str) -> Stamp:
    """Check ``token`` over ``signature_value`` against the trust store (see the module docstring)."""
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
    from pyhanko_certvalidator import ValidationContext

    from gateway.signing.trust import WEAK_HASHES, run_sync

    signed, tst = token_info(token, source)
    gen_time = as_utc(tst["gen_time"].native)
    algorithm = tst["message_imprint"]["hash_algorithm"]["algorithm"].native
    if algorithm not in ALLOWED_IMPRINTS:
        raise SignatureInvalid("timestamp_invalid", f"imprint algorithm {algorithm} is not allowed", location=source)

    def expected(name: str) -> bytes:
        return ALLOWED_IMPRINTS[name](signature_value).digest() if name in ALLOWED_IMPRINTS else b""

    trust.refresh()
    context = ValidationContext(
        trust_roots=trust.roots,
        other_certs=trust.intermediates,
        crls=trust.crls,
        moment=gen_time,
        allow_fetching=False,
        revocation_mode="require" if trust.revocation_unknown == "reject" else "soft-fail",
        weak_hash_algos=WEAK_HASHES,
        retroactive_revinfo=True,
    )
    try:
        status: dict[str, Any] = run_sync(validate_tst_signed_data(signed, context, expected))
    except Exception as exc:  # pyHanko's structural errors have no common base worth naming
        why = f"the timestamp token cannot be validated ({type(exc).__name__}: {exc})"
        raise SignatureInvalid("timestamp_invalid", why, location=source) from exc
    if not status.get("intact") or not status.get("valid"):
        raise SignatureInvalid(
            "timestamp_invalid",
            "the timestamp token does not cover this signature, or its own signature does not hold",
            location=source,
        )
    cert = x509.load_der_x509_certificate(status["signing_cert"].dump())
    if status.get("trust_problem_indic") is not None:
        raise SignatureInvalid(
            "timestamp_untrusted",
            f"the time-stamping authority {cert.subject.rfc4514_string()} is not trusted at {gen_time.isoformat()} "
            f"({status['trust_problem_indic']})",
            location=source,
        )
    check_tsa_usage(cert, source)
    return Stamp(gen_time, cert.subject.rfc4514_string())


def check_tsa_usage(cert: x509.Certificate, source: str) -> None:
    """RFC 3161 §2.3: the TSA's certificate has one extended key usage, timeStamping, marked critical."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        ext = None
    if ext is None or not ext.critical or list(ext.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        raise SignatureInvalid(
            "timestamp_untrusted",
            f"{cert.subject.rfc4514_string()} is not a time-stamping certificate "
            "(RFC 3161: extendedKeyUsage timeStamping only, critical)",
            location=source,
        )
