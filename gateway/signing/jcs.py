"""``ChuKySo`` on JSON packets: a signature over the RFC 8785 (JCS) canonical form of the envelope.

The signed bytes are the canonical form of the whole wire envelope *without* ``ChuKySo``, so key order
and whitespace do not matter and any changed value does. ``ThuatToan`` names a JWS algorithm
(``RS256``, ``PS256``, ``ES256``, ...); ECDSA values are the JWS raw ``r || s`` form. ``ChungThu`` is the
signer certificate, base64 DER.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding

from gateway.errors import SignatureInvalid
from gateway.packets import safe
from gateway.packets.canonical import CanonicalJson, NoCanonicalForm
from gateway.packets.canonical import canonical as canonical_json
from gateway.signing.keys import SigningKey

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
ALLOWED = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"})
_EC_SIZES = {"ES256": 32, "ES384": 48, "ES512": 66}


def canonical(envelope: dict[str, Any], signature_key: str) -> CanonicalJson:
    """RFC 8785 bytes of the envelope without its signature (``gateway.packets.canonical``: the C
    ``json`` writer where it provably equals RFC 8785, the ``rfc8785`` package elsewhere). Computed
    once per signed packet: the signed packet is written as these bytes plus the signature, so
    verifiers check it over the bytes they receive without canonicalising again (``verify``)."""
    unsigned = {k: v for k, v in envelope.items() if k != signature_key}
    try:
        return canonical_json(unsigned)
    except NoCanonicalForm as exc:
        raise SignatureInvalid("malformed", f"the packet has no RFC 8785 canonical form ({exc})") from exc


def _hash_of(alg: str) -> hashes.HashAlgorithm:
    return _HASHES[alg[2:]]()


@lru_cache(maxsize=64)
def _certificate_b64(certificate: x509.Certificate) -> str:
    """The signer certificate as ``ChungThu`` carries it, encoded once per certificate (batch signing)."""
    return base64.b64encode(certificate.public_bytes(Encoding.DER)).decode("ascii")


def _signature(data: bytes, key: SigningKey, names: tuple[str, str, str, str]) -> dict[str, str]:
    """The signature object over ``data`` (the canonical bytes); cryptography hashes them in C."""
    _, alg_name, cert_name, value_name = names
    private = key.private_key
    if isinstance(private, ec.EllipticCurvePrivateKey):
        size = private.curve.key_size
        alg = {256: "ES256", 384: "ES384", 521: "ES512"}[size]
        r, s = decode_dss_signature(private.sign(data, ec.ECDSA(_hash_of(alg))))
        width = _EC_SIZES[alg]
        raw = r.to_bytes(width, "big") + s.to_bytes(width, "big")
    else:
        alg = "RS256"
        raw = private.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return {
        alg_name: alg,
        cert_name: _certificate_b64(key.certificate),
        value_name: base64.b64encode(raw).decode("ascii"),
    }


def sign(envelope: dict[str, Any], key: SigningKey, names: tuple[str, str, str, str]) -> dict[str, Any]:
    """Return ``envelope`` with its signature object added (``names``: field, algorithm, certificate, value)."""
    field = names[0]
    signature = _signature(canonical(envelope, field), key, names)
    return {**{k: v for k, v in envelope.items() if k != field}, field: signature}


def sign_bytes(envelope: dict[str, Any], key: SigningKey, names: tuple[str, str, str, str]) -> bytes:
    """The signed packet as bytes: the canonical form of the unsigned envelope, with the signature
    object appended as its last member. Canonicalised once; the bytes signed are the bytes sent, so
    a verifier finds them verbatim (``verify``)."""
    return sign_canonical(canonical(envelope, names[0]), key, names)


def sign_canonical(data: CanonicalJson, key: SigningKey, names: tuple[str, str, str, str]) -> bytes:
    """``sign_bytes`` for an envelope already in canonical form without a signature member (the
    packet writer's ``canonical=True`` output): one hash and one key operation, nothing re-read."""
    field = names[0]
    member = json.dumps({field: _signature(data, key, names)}, ensure_ascii=False, separators=(",", ":"))
    tail = member[1:].encode("utf-8")  # '"ChuKySo":{...}}'
    return bytes(data[:-1]) + (b"," if data != b"{}" else b"") + tail


def inspect(
    envelope: dict[str, Any], names: tuple[str, str, str, str], source: str
) -> tuple[str, x509.Certificate, bytes]:
    """Algorithm (allow-listed), certificate and raw signature value, or a clear refusal."""
    field, alg_name, cert_name, value_name = names
    sig = envelope.get(field)
    if sig is None:
        raise SignatureInvalid("unsigned", f"the packet carries no {field}", location=source)
    if not isinstance(sig, dict):
        raise SignatureInvalid("malformed", f"{field} is not an object", location=f"{source}#/{field}")
    alg = sig.get(alg_name)
    if alg not in ALLOWED:
        raise SignatureInvalid(
            "weak_algorithm",
            f"{alg_name} {alg!r} is not allowed (allowed: {', '.join(sorted(ALLOWED))}; SHA-1 is refused)",
            location=f"{source}#/{field}/{alg_name}",
        )
    try:
        cert = x509.load_der_x509_certificate(base64.b64decode(str(sig.get(cert_name, "")), validate=True))
    except (binascii.Error, ValueError) as exc:
        raise SignatureInvalid(
            "malformed", f"{cert_name} is not a base64 DER certificate", location=f"{source}#/{field}/{cert_name}"
        ) from exc
    try:
        value = base64.b64decode(str(sig.get(value_name, "")), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureInvalid(
            "malformed", f"{value_name} is not base64", location=f"{source}#/{field}/{value_name}"
        ) from exc
    return str(alg), cert, value


def _as_received(envelope: dict[str, Any], field: str, received: bytes) -> bytes | None:
    """The bytes of ``received`` without its signature member, when that member is the last one and
    written compactly (as ``sign_bytes`` writes it); else None."""
    member = json.dumps({field: envelope[field]}, ensure_ascii=False, separators=(",", ":"))
    tail = ("," + member[1:]).encode("utf-8")
    body = received.rstrip(b" \t\r\n")
    if not body.endswith(tail):
        return None
    return body[: -len(tail)] + b"}"


def verify(
    envelope: dict[str, Any],
    alg: str,
    cert: x509.Certificate,
    value: bytes,
    field: str,
    source: str,
    received: bytes | None = None,
    max_depth: int | None = None,
) -> bytes:
    """Check the signature value; returns the bytes that were signed.

    With ``received`` (the packet's bytes, from which ``envelope`` was parsed with duplicate keys
    refused), the signature is first checked over those bytes less the signature member: a packet
    written by ``sign_bytes`` (ours, and any sender that sends the canonical form it signed) is
    verified with no canonicalisation at all. Those bytes are exactly the unsigned envelope that was
    read, so a signature over them proves it. When that does not hold (a packet re-serialised on the
    way, members in another order), the RFC 8785 form is computed and checked, as before; with
    ``max_depth`` the envelope's nesting is bounded first (a caller that parsed without the depth
    walk: only this fallback descends into the values)."""
    if received is not None:
        verbatim = _as_received(envelope, field, received)
        if verbatim is not None and _checks(alg, cert, value, verbatim, source):
            return verbatim
    if max_depth is not None:  # the RFC 8785 form descends into every value: bound the nesting first
        safe.check_json_depth(envelope, source, max_depth)
    data = canonical(envelope, field)
    if not _checks(alg, cert, value, data, source):
        raise SignatureInvalid(
            "tampered", "the signature does not match the packet: it changed after it was signed", location=source
        )
    return data


def _checks(alg: str, cert: x509.Certificate, value: bytes, data: bytes, source: str) -> bool:
    """Whether ``value`` is a valid ``alg`` signature of ``data`` by ``cert``'s key."""
    public = cert.public_key()
    check: Callable[[], None]
    if alg.startswith("ES"):
        width = _EC_SIZES[alg]
        if not isinstance(public, ec.EllipticCurvePublicKey) or len(value) != 2 * width:
            raise SignatureInvalid(
                "malformed", f"{alg} needs an EC certificate and a {2 * width}-byte value", location=source
            )
        der = encode_dss_signature(int.from_bytes(value[:width], "big"), int.from_bytes(value[width:], "big"))
        pub_ec = public

        def check() -> None:
            pub_ec.verify(der, data, ec.ECDSA(_hash_of(alg)))

    else:
        if not isinstance(public, rsa.RSAPublicKey):
            raise SignatureInvalid("malformed", f"{alg} needs an RSA certificate", location=source)
        pad: padding.AsymmetricPadding = (
            padding.PSS(mgf=padding.MGF1(_hash_of(alg)), salt_length=padding.PSS.DIGEST_LENGTH)
            if alg.startswith("PS")
            else padding.PKCS1v15()
        )
        pub_rsa = public

        def check() -> None:
            pub_rsa.verify(value, data, pad, _hash_of(alg))

    try:
        check()
    except InvalidSignature:
        return False
    return True
