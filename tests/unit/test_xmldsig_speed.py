"""XML-DSig signing in one exclusive-C14N pass (issue 19), checked against signxml, an independent
implementation: for RSA (PKCS#1 v1.5 is deterministic) the signed document is byte for byte what
signxml's ``XMLSigner`` writes with the same settings; for ECDSA (random values) signxml verifies it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.signer import XMLSigner

from gateway.errors import SignatureInvalid
from gateway.packets import model as m
from gateway.packets.validate import write_packet
from gateway.signing import xmldsig
from tests.support.packets import report_packet
from tests.support.signing import key, signer, verifier


def _signxml(data: bytes, who: object) -> bytes:
    signing_key = who  # a SigningKey
    xml_signer = XMLSigner(
        signature_algorithm=SignatureMethod.ECDSA_SHA256 if signing_key.is_ec else SignatureMethod.RSA_SHA256,  # type: ignore[attr-defined]
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    xml_signer.namespaces = {"ds": xmldsig.DS}
    signed = xml_signer.sign(
        etree.fromstring(data),
        key=signing_key.private_key,  # type: ignore[attr-defined]
        cert=[signing_key.certificate, *signing_key.chain],  # type: ignore[attr-defined]
    )
    return bytes(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"))


def _packet() -> bytes:
    envelope = report_packet(values=40)
    names = 'Ủy ban "tỉnh" & <Lào Cai> 𡨸 \ue000'
    return write_packet(envelope.model_copy(update={"sender": m.Unit(code="H15", name=names)}), "xml")


def _c14n(doc: bytes) -> bytes:
    return bytes(etree.tostring(etree.fromstring(doc), method="c14n", exclusive=True))


def test_rsa_signature_is_byte_identical_to_signxml(test_pki: Path) -> None:
    """The same document and signature as signxml writes, byte for byte once both are in C14N form
    (ours is written in that form, so a verifier finds the digested octets as they are)."""
    who = key(test_pki, "signer")
    data = _packet()
    ours = xmldsig.sign(etree.fromstring(data), who)
    assert _c14n(ours) == _c14n(_signxml(data, who))
    assert ours == b"<?xml version='1.0' encoding='UTF-8'?>\n" + _c14n(ours)


def test_ecdsa_signature_verifies_with_signxml_and_our_verifier(test_pki: Path) -> None:
    who = key(test_pki, "signer-ec")
    data = _packet()
    ours = xmldsig.sign(etree.fromstring(data), who)
    theirs = _signxml(data, who)
    # Everything but the (random) SignatureValue is the same.
    strip = etree.XPath("//ds:SignatureValue", namespaces={"ds": xmldsig.DS})

    def without_value(doc: bytes) -> bytes:
        root = etree.fromstring(doc)
        strip(root)[0].text = ""
        return bytes(etree.tostring(root, method="c14n", exclusive=True))

    assert without_value(ours) == without_value(theirs)
    cert, _ = xmldsig.inspect(ours, etree.fromstring(ours), "x")
    assert xmldsig.verify(ours, cert, "x")
    assert verifier(test_pki).verify(signer(test_pki, "signer-ec").sign(data), "x").signer.subject


def test_a_change_after_signing_is_caught(test_pki: Path) -> None:
    signed = signer(test_pki).sign(_packet())
    tampered = signed.replace(b"<GiaTri>1000.5</GiaTri>", b"<GiaTri>1000.6</GiaTri>", 1)
    assert tampered != signed
    with pytest.raises(SignatureInvalid) as caught:
        verifier(test_pki).verify(tampered, "x")
    assert caught.value.code == "tampered"
