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
import copy
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature as InvalidSignatureError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
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
    for a 1,000-value packet. The signature element is the one signxml's ``XMLSigner`` writes with
    the same settings (``tests/unit/test_xmldsig_speed.py``; xmlsec1 verifies it,
    ``tests/unit/test_xmldsig_interop.py``). The document around it is written as its exclusive
    C14N form, the very octets digested, with the signature spliced in before the root's end tag:
    the same document, and a verifier can find the digested octets verbatim (``check``) instead of
    canonicalising the packet again."""
    return sign_canonical(etree.tostring(root.getroottree(), method="c14n", exclusive=True, with_comments=False), key)


def sign_canonical(data: bytes, key: SigningKey) -> bytes:
    """``sign`` for a document already in exclusive C14N form (the packet writer's ``canonical=True``
    output, ``CanonicalXml``): those octets are digested as they are, nothing parsed."""
    signature = etree.Element(_tag("Signature"), nsmap={"ds": DS})
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
    # Exclusive C14N renders only the namespaces an element visibly uses, so SignedInfo's form is the
    # same here as once spliced into the document.
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
    end = data.rindex(b"</")  # the root's end tag: C14N always writes one
    element = etree.tostring(signature, method="c14n", exclusive=True, with_comments=False)
    whole = memoryview(data)  # one copy of the document, in the join
    return b"".join((_DECLARATION, whole[:end], bytes(element), whole[end:]))


_DECLARATION = b"<?xml version='1.0' encoding='UTF-8'?>\n"


_EXC_C14N = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0.value
_ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"


def _tag(name: str) -> str:
    return f"{{{DS}}}{name}"


def _child(parent: etree._Element, name: str, **attributes: str) -> etree._Element:
    return etree.SubElement(parent, _tag(name), attributes)


@lru_cache(maxsize=64)  # a signer's certificate and chain, encoded once (batch signing, issue 19)
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
    texts = tuple(c.text or "" for c in _ds(signature, "ds:KeyInfo/ds:X509Data/ds:X509Certificate"))
    if not texts:
        raise SignatureInvalid("malformed", "KeyInfo carries no X509Certificate", location=source)
    try:
        return _certificates(texts)
    except binascii.Error as exc:
        raise SignatureInvalid("malformed", "X509Certificate is not base64", location=source) from exc
    except ValueError as exc:  # base64, but not a certificate: was a bare ValueError (a 500 at the intake)
        raise SignatureInvalid(
            "malformed", f"X509Certificate is not a DER certificate ({exc})", location=source
        ) from exc


@lru_cache(maxsize=256)
def _certificates(texts: tuple[str, ...]) -> tuple[x509.Certificate, tuple[x509.Certificate, ...]]:
    """The signer's certificate and the others, from ``X509Certificate`` texts as they stand; loaded
    and told apart once per distinct text (a sender signs every packet with the same ones: the
    issuer/subject comparisons of ``_leaf`` cost more than the signature check, issue 19). Raises
    ``binascii.Error`` (not base64) or ``ValueError`` (not a certificate); refusals are not kept."""
    certs = [x509.load_der_x509_certificate(base64.b64decode("".join(t.split()), validate=True)) for t in texts]
    signer = _leaf(certs)
    return signer, tuple(c for c in certs if c is not signer)


def _leaf(certs: list[x509.Certificate]) -> x509.Certificate:
    """The signer's certificate among those in ``X509Data``: the one that issued none of the others.

    XML-DSig sets no order: signxml (and this module) write the signer first, xmlsec1 writes the
    chain first and the signer last. Taking the first one refused every packet xmlsec1 signed with
    its chain. When that does not single one out (a lone certificate, or several unrelated ones), the
    first, as before."""
    leaves = [c for c in certs if not any(o is not c and o.issuer == c.subject for o in certs)]
    return leaves[0] if len(leaves) == 1 else certs[0]


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


def _b64(text: str, source: str, what: str = "X509Certificate") -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureInvalid("malformed", f"{what} is not base64", location=source) from exc


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


_C14N_MODES = {  # Algorithm -> exclusive; comments never reach a digest (a packet carries none)
    CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0.value: True,
    CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0_WITH_COMMENTS.value: True,
    CanonicalizationMethod.CANONICAL_XML_1_0.value: False,
    CanonicalizationMethod.CANONICAL_XML_1_0_WITH_COMMENTS.value: False,
}
_EC_NS = "http://www.w3.org/2001/10/xml-exc-c14n#"
_METHODS = {m.value: m for m in ALLOWED_SIGNATURE_METHODS}
_DIGESTS = {d.value: d for d in ALLOWED_DIGESTS}
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384,
    "SHA512": hashes.SHA512,
}


@dataclass(frozen=True)
class _Shape:
    """A signature in the common shape: C14N 1.0 (inclusive or exclusive) of SignedInfo and of the
    document, one enveloped Reference. Anything else goes to signxml."""

    signature: etree._Element
    signed_info: etree._Element
    signed_info_mode: tuple[bool, list[str] | None]
    document_mode: tuple[bool, list[str] | None]
    method: SignatureMethod
    digest: DigestAlgorithm
    digest_value: bytes
    value: bytes


def check(data: bytes, root: etree._Element, cert: x509.Certificate, source: str) -> bytes | None:
    """Verify the enveloped signature on ``root`` (parsed from ``data`` by ``safe.parse_xml`` and
    passed by ``inspect``) with ``cert``'s key, using the parse the caller already made: no re-parse,
    C14N of SignedInfo, one key operation. Returns the octets the Reference's digest covers (the
    document without its Signature, canonicalised), or None when the signature's shape is not the
    common one (other transforms, C14N 1.1...), for ``verify`` (signxml) to decide.

    The digest is first compared over the received bytes less the Signature element (``_verbatim``):
    a document signed by ``sign`` is its own C14N form, so nothing is canonicalised at all. Matching
    a SHA-2 digest means those octets are what the signer digested; because they were cut out of the
    bytes the caller parsed at the Signature element's own boundaries, the document the caller reads
    (the parse, less its Signature) is exactly what they encode. Otherwise the document is
    canonicalised once (the enveloped transform applied to the same tree) and compared."""
    shape = _shape(root, source)
    if shape is None:
        return None
    signed_info = _signed_info_c14n(shape.signed_info, shape.signed_info_mode)
    if not _signature_holds(shape.method, cert, shape.value, signed_info, source):
        raise SignatureInvalid("tampered", "the signature value does not match SignedInfo", location=source)
    algorithm = shape.digest.name.lower()
    verbatim = _verbatim(data, root, shape.signature)
    if verbatim is not None and hmac.compare_digest(hashlib.new(algorithm, verbatim).digest(), shape.digest_value):
        return verbatim
    octets = _enveloped_c14n(root, shape.signature, shape.document_mode)
    if not hmac.compare_digest(hashlib.new(algorithm, octets).digest(), shape.digest_value):
        raise SignatureInvalid("tampered", "the packet changed after it was signed (digest mismatch)", location=source)
    return octets


def _shape(root: etree._Element, source: str) -> _Shape | None:
    signature = root[-1]  # ``inspect``: the one Signature, the root's last child
    children = [c for c in signature if isinstance(c.tag, str)]
    if len(children) < 2 or children[0].tag != _tag("SignedInfo") or children[1].tag != _tag("SignatureValue"):
        raise SignatureInvalid("malformed", "Signature must start with SignedInfo and SignatureValue", location=source)
    signed_info, value_el = children[0], children[1]
    parts = [c for c in signed_info if isinstance(c.tag, str)]
    if len(parts) != 3 or [p.tag for p in parts] != [
        _tag("CanonicalizationMethod"),
        _tag("SignatureMethod"),
        _tag("Reference"),
    ]:
        return None
    signed_info_mode = _mode(parts[0])
    reference = parts[2]
    steps = [c for c in reference if isinstance(c.tag, str)]
    if [c.tag for c in steps] != [_tag("Transforms"), _tag("DigestMethod"), _tag("DigestValue")]:
        return None
    transforms = [t for t in steps[0] if isinstance(t.tag, str)]
    if len(transforms) != 2 or any(t.tag != _tag("Transform") for t in transforms):
        return None
    if transforms[0].get("Algorithm") != _ENVELOPED or len(transforms[0]):
        return None
    document_mode = _mode(transforms[1])
    if signed_info_mode is None or document_mode is None:
        return None
    method = _METHODS[parts[1].get("Algorithm", "")]  # allow-listed by ``inspect``
    digest = _DIGESTS[steps[1].get("Algorithm", "")]
    return _Shape(
        signature=signature,
        signed_info=signed_info,
        signed_info_mode=signed_info_mode,
        document_mode=document_mode,
        method=method,
        digest=digest,
        digest_value=_b64(steps[2].text or "", source, "DigestValue"),
        value=_b64(value_el.text or "", source, "SignatureValue"),
    )


def _mode(el: etree._Element) -> tuple[bool, list[str] | None] | None:
    """(exclusive, InclusiveNamespaces prefixes) of a C14N 1.0 method or transform, else None."""
    exclusive = _C14N_MODES.get(el.get("Algorithm", ""))
    if exclusive is None:
        return None
    extra = [c for c in el if isinstance(c.tag, str)]
    if not extra:
        return exclusive, None
    if exclusive and len(extra) == 1 and extra[0].tag == f"{{{_EC_NS}}}InclusiveNamespaces":
        return exclusive, (extra[0].get("PrefixList") or "").split()
    return None


def _signature_holds(method: SignatureMethod, cert: x509.Certificate, value: bytes, data: bytes, source: str) -> bool:
    public = cert.public_key()
    algorithm = _HASHES[method.name.rsplit("_", 1)[1]]()
    try:
        if method.name.startswith("ECDSA_"):
            if not isinstance(public, ec.EllipticCurvePublicKey):
                raise SignatureInvalid("malformed", f"{method.name} needs an EC certificate", location=source)
            width = (public.curve.key_size + 7) // 8
            if len(value) != 2 * width:
                raise SignatureInvalid(
                    "malformed", f"{method.name} needs a {2 * width}-byte SignatureValue (r || s)", location=source
                )
            der = encode_dss_signature(int.from_bytes(value[:width], "big"), int.from_bytes(value[width:], "big"))
            public.verify(der, data, ec.ECDSA(algorithm))
        else:
            if not isinstance(public, rsa.RSAPublicKey):
                raise SignatureInvalid("malformed", f"{method.name} needs an RSA certificate", location=source)
            public.verify(value, data, padding.PKCS1v15(), algorithm)
    except InvalidSignatureError:
        return False
    return True


def _verbatim(data: bytes, root: etree._Element, signature: etree._Element) -> bytes | None:
    """``data`` less its XML declaration, the Signature element and what follows the root's end tag,
    when the Signature's bytes can be found exactly; else None (the caller canonicalises).

    Found exactly means: the parsed Signature element, serialised by lxml, is byte for byte what
    stands in ``data`` just before the root's end tag (what ``sign`` writes, and what xmlsec1 writes).
    That cannot be a lookalike: ``safe.parse_xml`` and ``inspect`` established that the Signature is
    the root's last child and the only one, and that no comment, processing instruction or DTD is
    anywhere, so after the element come only whitespace and the root's end tag; the serialisation
    declares the XML-DSig namespace itself and holds no ``]]>`` (lxml escapes ``>``), so where it
    stands is not inside a CDATA section, an attribute or another element of that name. The bytes
    must be UTF-8 and XML 1.0 as declared, so the octets cut out mean what the parse read."""
    info = root.getroottree().docinfo
    if (info.encoding or "UTF-8").upper() not in ("UTF-8", "UTF8") or info.xml_version not in (None, "1.0"):
        return None  # other bytes for the same text, or XML 1.1's other line-end rules: canonicalise
    start = 0
    if data.startswith(b"<?xml"):
        start = data.find(b"?>") + 2
        while data[start : start + 1] in (b" ", b"\t", b"\r", b"\n"):
            start += 1
    element = bytes(etree.tostring(signature, method="c14n", exclusive=True, with_comments=False))
    tail = signature.tail or ""
    end = data.rfind(element)
    if end < start or data.find(b"]]>", end, end + len(element)) >= 0:
        return None
    rest = data[end + len(element) :].rstrip(b" \t\r\n")
    if rest.count(b"<") != 1 or not rest.startswith(tail.encode("utf-8") + b"</"):
        return None
    return data[start:end] + rest


def unwrap(root: etree._Element) -> None:
    """Take the enveloped Signature (the root's last child) out of ``root`` as the enveloped-signature
    transform does, keeping the text after it: what is left is the document the signature covers."""
    signature = root[-1]
    if signature.tag != _tag("Signature"):
        return
    tail, previous = signature.tail, signature.getprevious()
    if tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            root.text = (root.text or "") + tail
    root.remove(signature)


def _signed_info_c14n(signed_info: etree._Element, mode: tuple[bool, list[str] | None]) -> bytes:
    """C14N 1.0 of SignedInfo, the octets the SignatureValue covers.

    Inclusive C14N of a subtree, as libxml2 writes it, declares ``xmlns=""`` on descendants of an
    unprefixed SignedInfo whose document's root has another default namespace, which is no part of
    the canonical form; .NET's ``SignedXml`` signs exactly that shape (an unprefixed Signature,
    inclusive C14N), so such signatures were refused as tampered though xmlsec1 verifies them (found
    by an outside test). Inclusive C14N of a document subset renders every namespace in scope on its
    apex, so SignedInfo is copied under an apex declaring them all (``nsmap`` includes those
    inherited) and that copy, now a whole tree, is canonicalised."""
    exclusive, prefixes = mode
    if exclusive:
        return bytes(
            etree.tostring(
                signed_info, method="c14n", exclusive=True, with_comments=False, inclusive_ns_prefixes=prefixes
            )
        )
    apex = etree.Element(signed_info.tag, attrib=dict(signed_info.attrib), nsmap=signed_info.nsmap)
    apex.text = signed_info.text
    for child in signed_info:
        apex.append(copy.deepcopy(child))
    return bytes(etree.tostring(apex, method="c14n", exclusive=False, with_comments=False))


def _enveloped_c14n(root: etree._Element, signature: etree._Element, mode: tuple[bool, list[str] | None]) -> bytes:
    """C14N of the document without ``signature`` (the enveloped-signature transform): its element is
    taken out for the pass and put back, the text after it kept in place as the transform keeps it."""
    tail, previous = signature.tail, signature.getprevious()
    before = previous.tail if previous is not None else root.text
    signature.tail = None
    if tail:
        if previous is not None:
            previous.tail = (before or "") + tail
        else:
            root.text = (before or "") + tail
    index = root.index(signature)
    root.remove(signature)
    try:
        return bytes(
            etree.tostring(
                root.getroottree(), method="c14n", exclusive=mode[0], with_comments=False, inclusive_ns_prefixes=mode[1]
            )
        )
    finally:
        if previous is not None:
            previous.tail = before
        else:
            root.text = before
        root.insert(index, signature)
        signature.tail = tail
