"""XML-DSig against xmlsec1 (Debian package ``xmlsec1``), an independent implementation, both ways.

A document the gateway signs verifies with ``xmlsec1 --verify``; a document xmlsec1 signs (from a
hand-written template: exclusive or inclusive C14N, RSA or ECDSA, its certificate chain in
``X509Data`` as xmlsec1 orders it) verifies with the gateway's one-parse checker
(``xmldsig.check``) and reads back as the same packet; a changed value is refused by both. Issue
19: the checker replaced signxml for the common shape, so it must agree with another implementation
on what is valid, not only with itself.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from lxml import etree

from gateway.errors import InputError, SignatureInvalid
from gateway.packets import safe
from gateway.packets.validate import read_packet, write_packet
from gateway.signing import xmldsig
from gateway.signing.packets import strip_signature
from tests.support.packets import report_packet
from tests.support.signing import PROFILE, signer, verifier

DS = xmldsig.DS
EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"
INC = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
RSA = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
ECDSA = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"


def xmlsec1(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["xmlsec1", *args], capture_output=True, text=True, timeout=60, check=False)


def xmlsec1_verifies(pki: Path, document: Path) -> subprocess.CompletedProcess[str]:
    trust = pki / "trust"
    return xmlsec1(
        "--verify",
        "--trusted-pem",
        str(trust / "root.pem"),
        "--untrusted-pem",
        str(trust / "intermediate.pem"),
        str(document),
    )


def packet_bytes(values: int = 30) -> bytes:
    return write_packet(report_packet(values=values), "xml")


def template(data: bytes, c14n: str, method: str, prefix: str | None = "ds") -> bytes:
    """An unsigned enveloped-signature template, written element by element from XML-DSig 1.1
    section 4 (not by the gateway's signer): xmlsec1 fills DigestValue, SignatureValue and X509Data.
    ``prefix=None``: an unprefixed Signature, as .NET's ``SignedXml`` writes it."""
    root = etree.fromstring(data)
    sig = etree.SubElement(root, f"{{{DS}}}Signature", nsmap={prefix: DS})
    info = etree.SubElement(sig, f"{{{DS}}}SignedInfo")
    etree.SubElement(info, f"{{{DS}}}CanonicalizationMethod", Algorithm=c14n)
    etree.SubElement(info, f"{{{DS}}}SignatureMethod", Algorithm=method)
    ref = etree.SubElement(info, f"{{{DS}}}Reference", URI="")
    transforms = etree.SubElement(ref, f"{{{DS}}}Transforms")
    etree.SubElement(transforms, f"{{{DS}}}Transform", Algorithm=f"{DS}enveloped-signature")
    etree.SubElement(transforms, f"{{{DS}}}Transform", Algorithm=c14n)
    etree.SubElement(ref, f"{{{DS}}}DigestMethod", Algorithm="http://www.w3.org/2001/04/xmlenc#sha256")
    etree.SubElement(ref, f"{{{DS}}}DigestValue")
    etree.SubElement(sig, f"{{{DS}}}SignatureValue")
    etree.SubElement(etree.SubElement(sig, f"{{{DS}}}KeyInfo"), f"{{{DS}}}X509Data")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def signed_by_xmlsec1(
    pki: Path, tmp_path: Path, who: str, c14n: str, method: str, data: bytes, prefix: str | None = "ds"
) -> bytes:
    tmpl, out = tmp_path / f"{who}-tmpl.xml", tmp_path / f"{who}-signed.xml"
    tmpl.write_bytes(template(data, c14n, method, prefix))
    passphrase = (pki / "passphrase.txt").read_text().strip()
    run = xmlsec1("--sign", "--pkcs12", str(pki / f"{who}.p12"), "--pwd", passphrase, "--output", str(out), str(tmpl))
    assert run.returncode == 0, run.stderr
    return out.read_bytes()


def checked(data: bytes, pki: Path) -> bytes | None:
    """What ``xmldsig.check`` returns for ``data`` (None: it left the signature to signxml)."""
    root = safe.parse_xml(data, "test")
    cert, _ = xmldsig.inspect(data, root, "test")
    return xmldsig.check(data, root, cert, "test")


@pytest.mark.parametrize("who", ["signer", "signer-ec"])
def test_what_we_sign_verifies_with_xmlsec1(test_pki: Path, tmp_path: Path, who: str) -> None:
    signed = signer(test_pki, who).sign(packet_bytes())
    path = tmp_path / "ours.xml"
    path.write_bytes(signed)
    run = xmlsec1_verifies(test_pki, path)
    assert run.returncode == 0 and "OK" in run.stdout + run.stderr, run.stdout + run.stderr
    # and xmlsec1 refuses it once a value changed: the check above is not vacuous
    path.write_bytes(signed.replace(b"<MaDinhDanh>H15<", b"<MaDinhDanh>H16<", 1))
    assert xmlsec1_verifies(test_pki, path).returncode != 0


@pytest.mark.parametrize("prefix", ["ds", None])
@pytest.mark.parametrize(
    ("who", "c14n", "method"),
    [("signer", EXC, RSA), ("signer", INC, RSA), ("signer-ec", EXC, ECDSA), ("signer-ec", INC, ECDSA)],
)
def test_what_xmlsec1_signs_verifies_with_our_checker(
    test_pki: Path, tmp_path: Path, who: str, c14n: str, method: str, prefix: str | None
) -> None:
    """Fails on the old code: xmlsec1 writes the intermediate certificate first and the signer's
    last, and the verifier took the first ``X509Certificate`` as the signer's. Unprefixed with
    inclusive C14N (.NET's default shape) it failed too, as tampered: libxml2's C14N of the SignedInfo
    subtree declared ``xmlns=""`` on its descendants (found by an outside test)."""
    data = packet_bytes()
    signed = signed_by_xmlsec1(test_pki, tmp_path, who, c14n, method, data, prefix)
    certs = etree.fromstring(signed).findall(f".//{{{DS}}}X509Certificate")
    assert len(certs) == 2  # the chain as xmlsec1 writes it
    assert checked(signed, test_pki) is not None  # the one-parse checker decided, not signxml
    verified = verifier(test_pki).verify(signed, "xmlsec1")
    assert verified.signer.unit_code == "H15"
    assert read_packet(verified.data, profile=PROFILE) == read_packet(data, profile=PROFILE)


@pytest.mark.parametrize(("who", "c14n", "method"), [("signer", INC, RSA), ("signer-ec", EXC, ECDSA)])
def test_a_value_changed_after_xmlsec1_signed_is_refused(
    test_pki: Path, tmp_path: Path, who: str, c14n: str, method: str
) -> None:
    signed = signed_by_xmlsec1(test_pki, tmp_path, who, c14n, method, packet_bytes())
    forged = signed.replace(b"<MaDinhDanh>G01<", b"<MaDinhDanh>G02<", 1)
    assert forged != signed
    with pytest.raises(SignatureInvalid) as caught:
        verifier(test_pki).verify(forged, "forged")
    assert caught.value.code == "tampered"


def test_a_signed_info_changed_after_signing_is_refused(test_pki: Path, tmp_path: Path) -> None:
    signed = signed_by_xmlsec1(test_pki, tmp_path, "signer", EXC, RSA, packet_bytes())
    root = etree.fromstring(signed)
    digest = root.find(f".//{{{DS}}}DigestValue")
    assert digest is not None and digest.text
    first = b"B" if digest.text.startswith("A") else b"A"  # another first character, always
    forged = signed.replace(digest.text.encode(), first + digest.text.encode()[1:], 1)
    assert forged != signed
    with pytest.raises(SignatureInvalid) as caught:
        verifier(test_pki).verify(forged, "forged")
    assert caught.value.code == "tampered"


def test_our_signed_bytes_are_found_verbatim_or_canonicalised_alike(test_pki: Path) -> None:
    """The digest is compared over the received bytes less the Signature when they are already the
    C14N form (what ``sign`` writes), else over a fresh C14N: the same octets either way, and a
    re-serialised but equal document still verifies."""
    signed = signer(test_pki).sign(packet_bytes())
    unsigned = etree.fromstring(signed)
    strip_signature(unsigned)
    expected = etree.tostring(unsigned, method="c14n", exclusive=True)
    assert checked(signed, test_pki) == expected
    # A character reference instead of the letter: the same document, other bytes (not C14N).
    respelled = signed.replace(b"<MaDinhDanh>H15<", b"<MaDinhDanh>&#x48;15<", 1)
    assert respelled != signed
    assert checked(respelled, test_pki) == expected
    assert verifier(test_pki).verify(respelled, "respelled").data == expected


def test_a_cdata_section_spelling_a_signature_start_does_not_fool_the_cut(test_pki: Path) -> None:
    """A ``<ds:Signature`` spelled inside a CDATA section of the Signature (its Object, outside what
    is signed) cannot move where the verbatim cut starts: the checker canonicalises instead."""
    signed = signer(test_pki).sign(packet_bytes())
    decoy = b"<ds:Object><![CDATA[<ds:Signature>]]></ds:Object></ds:Signature>"
    spliced = signed.replace(b"</ds:Signature>", decoy, 1)
    assert spliced.count(b"<ds:Signature ") == 1 and spliced.count(b"<ds:Signature>") == 1
    assert checked(spliced, test_pki) is not None
    verifier(test_pki).verify(spliced, "decoy")
    # An element appended after the Signature is still refused as wrapping, before any digest.
    moved = signed.replace(b"</ds:Signature>", b"</ds:Signature><Extra/>", 1)
    with pytest.raises(SignatureInvalid) as caught:
        verifier(test_pki).verify(moved, "moved")
    assert caught.value.code == "wrapping"


def test_a_document_declared_in_another_encoding_is_refused_before_its_signature(test_pki: Path) -> None:
    """Packets are UTF-8 (the profile): a Latin-1 declaration makes the same bytes mean other text; the
    verifier used to canonicalise it (and find it tampered); now the packet is refused as such, by name."""
    signed = signer(test_pki).sign(packet_bytes())
    latin = signed.replace(b"encoding='UTF-8'", b"encoding='ISO-8859-1'", 1)
    assert latin != signed
    with pytest.raises(InputError, match='encoding="ISO-8859-1"'):
        verifier(test_pki).verify(latin, "latin-1")


def test_an_xml_1_1_declaration_is_canonicalised_not_cut_and_a_packet_in_it_refused(test_pki: Path) -> None:
    """XML 1.1 has other line-end rules (U+0085, U+2028), so the same octets need not mean the same
    text: such a document never takes the verbatim cut, and the C14N path still finds it intact.
    A packet is XML 1.0, so the verifier refuses it before any of that."""
    signed = signer(test_pki).sign(packet_bytes())
    eleven = signed.replace(b"version='1.0'", b"version='1.1'", 1)
    assert eleven != signed
    root = safe.parse_xml(eleven, "test", packet=False)
    assert xmldsig._verbatim(eleven, root, root[-1]) is None
    plain = safe.parse_xml(signed, "test")
    assert xmldsig._verbatim(signed, plain, plain[-1]) is not None
    cert, _ = xmldsig.inspect(eleven, root, "test")
    assert xmldsig.check(eleven, root, cert, "test") == checked(signed, test_pki)
    with pytest.raises(InputError, match=r"XML 1\.0"):
        verifier(test_pki).verify(eleven, "eleven")
