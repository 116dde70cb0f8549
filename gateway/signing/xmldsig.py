"""Enveloped XML-DSig on ``GoiTin`` (signxml): RSA-SHA256 or ECDSA-SHA256, exclusive C14N.

Verification is deliberately narrower than the XML-DSig standard allows, because every extra freedom
is a wrapping attack waiting to happen: exactly one ``Signature``, the last child of the root; exactly
one ``Reference`` with ``URI=""`` (the whole document, so no element can be addressed by an ``Id``
that an attacker duplicates); algorithms from an allow-list checked *before* any cryptography; and the
caller gets back the bytes signxml proved were signed, never the document it was handed.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidDigest, InvalidInput, InvalidSignature, SignXMLException
from signxml.signer import XMLSigner
from signxml.verifier import SignatureConfiguration, XMLVerifier

from gateway.errors import SignatureInvalid
from gateway.signing.keys import SigningKey

DS = "http://www.w3.org/2000/09/xmldsig#"
ALLOWED_SIGNATURE_METHODS = frozenset(
    {
        SignatureMethod.RSA_SHA256,
        SignatureMethod.RSA_SHA384,
        SignatureMethod.RSA_SHA512,
        SignatureMethod.ECDSA_SHA256,
        SignatureMethod.ECDSA_SHA384,
        SignatureMethod.ECDSA_SHA512,
    }
)
ALLOWED_DIGESTS = frozenset({DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512})


def sign(root: etree._Element, key: SigningKey) -> bytes:
    """Append an enveloped signature to ``root`` (a ``GoiTin``) and return the signed document."""
    signer = XMLSigner(
        signature_algorithm=SignatureMethod.ECDSA_SHA256 if key.is_ec else SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    signer.namespaces = {"ds": DS}
    signed = signer.sign(root, key=key.private_key, cert=[key.certificate, *key.chain])
    return bytes(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"))


@dataclass(frozen=True)
class SignedXml:
    """What a valid signature covers: the signed document without its Signature, and the signer's certificate."""

    signed_data: bytes
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]


def _ds(el: etree._Element, path: str) -> list[Any]:
    return list(el.iterfind(path, namespaces={"ds": DS}))


def inspect(data: bytes, root: etree._Element, source: str) -> tuple[x509.Certificate, tuple[x509.Certificate, ...]]:
    """Structural checks that stop wrapping and downgrade attacks, then the embedded certificates."""
    signatures = list(root.iter(f"{{{DS}}}Signature"))
    if not signatures:
        raise SignatureInvalid("unsigned", "the packet carries no XML-DSig Signature", location=source)
    if len(signatures) > 1:
        raise SignatureInvalid(
            "wrapping", f"{len(signatures)} Signature elements; exactly one is allowed", location=source
        )
    signature = signatures[0]
    children = [c for c in root if isinstance(c.tag, str)]
    if signature.getparent() is not root or children[-1] is not signature:
        raise SignatureInvalid("wrapping", "the Signature must be the last child of the root element", location=source)
    references = _ds(signature, "ds:SignedInfo/ds:Reference")
    if len(references) != 1 or references[0].get("URI") != "":
        uris = [r.get("URI") for r in references]
        raise SignatureInvalid(
            "wrapping",
            f'the signature must have exactly one Reference with URI="" (the whole packet); found {uris}',
            location=source,
        )
    _check_method(signature, source)
    for digest in _ds(signature, "ds:SignedInfo/ds:Reference/ds:DigestMethod"):
        _check_digest(digest.get("Algorithm", ""), source)
    certs = [
        x509.load_der_x509_certificate(_b64(c.text or "", source))
        for c in _ds(signature, "ds:KeyInfo/ds:X509Data/ds:X509Certificate")
    ]
    if not certs:
        raise SignatureInvalid("malformed", "KeyInfo carries no X509Certificate", location=source)
    return certs[0], tuple(certs[1:])


def _check_method(signature: Any, source: str) -> None:
    found = _ds(signature, "ds:SignedInfo/ds:SignatureMethod")
    uri = found[0].get("Algorithm", "") if found else ""
    try:
        value = SignatureMethod(uri)
    except ValueError as exc:
        raise SignatureInvalid("weak_algorithm", f"unknown signature algorithm {uri!r}", location=source) from exc
    if value not in ALLOWED_SIGNATURE_METHODS:
        raise SignatureInvalid(
            "weak_algorithm",
            f"{value.name} is not allowed (SHA-1 and other weak algorithms are refused)",
            location=source,
        )


def _check_digest(uri: str, source: str) -> None:
    try:
        value = DigestAlgorithm(uri)
    except ValueError as exc:
        raise SignatureInvalid("weak_algorithm", f"unknown digest algorithm {uri!r}", location=source) from exc
    if value not in ALLOWED_DIGESTS:
        raise SignatureInvalid("weak_algorithm", f"digest {value.name} is not allowed", location=source)


def _b64(text: str, source: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureInvalid("malformed", "X509Certificate is not base64", location=source) from exc


def verify(data: bytes, cert: x509.Certificate, source: str, at: datetime | None = None) -> bytes:
    """The cryptographic check with signxml, pinned to ``cert`` (already path-validated by the caller
    at ``at``: the time of verification, or an RFC 3161 token's time, which signxml must use too)."""
    config = SignatureConfiguration(
        verification_time=at,
        require_x509=True,
        location="./",
        expect_references=1,
        signature_methods=ALLOWED_SIGNATURE_METHODS,
        digest_algorithms=ALLOWED_DIGESTS,
    )
    try:
        result = XMLVerifier().verify(data, x509_cert=cert.public_bytes(Encoding.PEM).decode(), expect_config=config)
    except InvalidDigest as exc:
        raise SignatureInvalid("tampered", f"the packet changed after it was signed ({exc})", location=source) from exc
    except InvalidSignature as exc:
        raise SignatureInvalid("tampered", f"the signature value does not match ({exc})", location=source) from exc
    except InvalidInput as exc:
        raise SignatureInvalid("malformed", str(exc), location=source) from exc
    except (SignXMLException, etree.LxmlError, ValueError) as exc:
        raise SignatureInvalid("malformed", f"{type(exc).__name__}: {exc}", location=source) from exc
    if isinstance(result, list):  # expect_references=1 makes this one result; belt and braces
        raise SignatureInvalid("wrapping", "more than one signed reference", location=source)
    return result.signed_data
