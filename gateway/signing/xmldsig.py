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
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidDigest, InvalidInput, InvalidSignature, SignXMLException
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
    """Append an enveloped signature to ``root`` (a ``GoiTin``) and return the signed document.

    Built with lxml directly, in one exclusive-C14N pass over the document (issue 19): signxml
    serialised and re-parsed the document several times per signature, 20-100x the key operation
    for a 1,000-value packet. The result is the signature signxml's ``XMLSigner`` writes with the
    same settings, byte for byte for RSA (PKCS#1 v1.5 is deterministic; ECDSA values are random):
    ``tests/unit/test_xmldsig_speed.py`` compares the two, and signxml verifies ours on receipt."""
    data = etree.tostring(root.getroottree(), method="c14n", exclusive=True, with_comments=False)
    signature = etree.SubElement(root, _tag("Signature"), nsmap={"ds": DS})
    signed_info = _child(signature, "SignedInfo")
    _child(signed_info, "CanonicalizationMethod", Algorithm=_EXC_C14N)
    method = SignatureMethod.ECDSA_SHA256 if key.is_ec else SignatureMethod.RSA_SHA256
    _child(signed_info, "SignatureMethod", Algorithm=method.value)
    reference = _child(signed_info, "Reference", URI="")
    transforms = _child(reference, "Transforms")
    _child(transforms, "Transform", Algorithm=_ENVELOPED)
    _child(transforms, "Transform", Algorithm=_EXC_C14N)
    _child(reference, "DigestMethod", Algorithm=DigestAlgorithm.SHA256.value)
    _child(reference, "DigestValue").text = base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")
    signed = etree.tostring(signed_info, method="c14n", exclusive=True, with_comments=False)
    private = key.private_key
    if isinstance(private, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(private.sign(signed, ec.ECDSA(hashes.SHA256())))
        width = (private.curve.key_size + 7) // 8
        raw = r.to_bytes(width, "big") + s.to_bytes(width, "big")  # XML-DSig 1.1: r || s
    else:
        raw = private.sign(signed, padding.PKCS1v15(), hashes.SHA256())
    _child(signature, "SignatureValue").text = base64.b64encode(raw).decode("ascii")
    x509_data = _child(_child(signature, "KeyInfo"), "X509Data")
    for certificate in (key.certificate, *key.chain):
        _child(x509_data, "X509Certificate").text = _pem_body(certificate)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


_EXC_C14N = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0.value
_ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"


def _tag(name: str) -> str:
    return f"{{{DS}}}{name}"


def _child(parent: etree._Element, name: str, **attributes: str) -> etree._Element:
    return etree.SubElement(parent, _tag(name), attributes)


def _pem_body(certificate: x509.Certificate) -> str:
    """The certificate as signxml writes it: the PEM body, lines of 64 characters, each ended."""
    lines = certificate.public_bytes(Encoding.PEM).decode("ascii").strip().splitlines()
    return "".join(f"{line}\n" for line in lines[1:-1])


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
