"""Packet signatures: every way a signature can be wrong gets its own, distinct reason.

Real keys and certificates from a generated test PKI (root -> intermediate -> signers, CRLs), real
XML-DSig (signxml) and RFC 8785 JSON signatures; no mocks.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from signxml.algorithms import DigestAlgorithm, SignatureMethod
from signxml.signer import XMLSigner
from signxml.verifier import SignatureConfiguration, XMLVerifier

from gateway.errors import ConfigurationError, SignatureInvalid, SignatureUnknown
from gateway.packets.validate import read_packet, write_packet
from gateway.signing import jcs
from gateway.signing.keys import KeyRing, load_key, read_passphrase
from gateway.signing.packets import PacketSigner
from gateway.signing.testpki import make_test_pki, revoke
from gateway.signing.trust import TrustStore
from tests.support.packets import report_packet
from tests.support.signing import (
    NS,
    PROFILE,
    key,
    resign_json_sha1,
    resign_xml_sha1,
    sign_raw,
    signer,
    verifier,
)

FORMATS = ["json", "xml"]


def packet_bytes(fmt: str, values: int = 20) -> bytes:
    return write_packet(report_packet(values=values), fmt)  # type: ignore[arg-type]


def refused(pki: Path, data: bytes, **options: object) -> SignatureInvalid:
    with pytest.raises(SignatureInvalid) as caught:
        verifier(pki, **options).verify(data, "packet.bin")
    return caught.value


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("who", ["signer", "signer-ec"])
def test_valid_signature_passes_and_reads_back_the_same_packet(test_pki: Path, fmt: str, who: str) -> None:
    original = report_packet(values=50)
    signed = signer(test_pki, who).sign(write_packet(original, fmt))  # type: ignore[arg-type]
    verified = verifier(test_pki).verify(signed, "packet")
    assert verified.signer.unit_code == "H15"
    assert verified.signer.revocation == "good"
    packet = read_packet(verified.data)
    assert packet.body == original.body
    assert packet.packet_id == original.packet_id


def test_signature_algorithms_are_what_the_profile_says(test_pki: Path) -> None:
    rsa_json = json.loads(signer(test_pki).sign(packet_bytes("json")))
    ec_json = json.loads(signer(test_pki, "signer-ec").sign(packet_bytes("json")))
    assert rsa_json["ChuKySo"]["ThuatToan"] == "RS256"
    assert ec_json["ChuKySo"]["ThuatToan"] == "ES256"
    root = etree.fromstring(signer(test_pki, "signer-ec").sign(packet_bytes("xml")))
    assert etree.QName(root[-1]).localname == "Signature"  # the last child of GoiTin
    assert root.find("ds:Signature/ds:SignedInfo/ds:SignatureMethod", NS).get("Algorithm").endswith("ecdsa-sha256")
    method = root.find("ds:Signature/ds:SignedInfo/ds:CanonicalizationMethod", NS).get("Algorithm")
    assert method == "http://www.w3.org/2001/10/xml-exc-c14n#"


def test_signed_xml_still_validates_against_the_xsd(test_pki: Path) -> None:
    signed = signer(test_pki).sign(packet_bytes("xml"))
    assert read_packet(signed).packet_type.value == "SO_LIEU_BAO_CAO"


@pytest.mark.parametrize("fmt", FORMATS)
def test_one_changed_value_is_tampering(test_pki: Path, fmt: str) -> None:
    signed = signer(test_pki).sign(packet_bytes(fmt))
    changed = signed.replace(b"2000.5", b"2001.5", 1)
    assert changed != signed
    assert refused(test_pki, changed).code == "tampered"


@pytest.mark.parametrize("fmt", FORMATS)
def test_one_removed_element_is_tampering(test_pki: Path, fmt: str) -> None:
    signed = signer(test_pki).sign(packet_bytes(fmt))
    if fmt == "json":
        doc = json.loads(signed)
        del doc["NoiDung"]["SoLieu"][3]
        damaged = json.dumps(doc, ensure_ascii=False).encode()
    else:
        root = etree.fromstring(signed)
        figure = root.find("{urn:x-qcvn125:gw:0}NoiDung/{urn:x-qcvn125:gw:0}SoLieu")
        figure.getparent().remove(figure)
        damaged = etree.tostring(root)
    assert refused(test_pki, damaged).code == "tampered"


def test_reordered_json_keys_alone_still_verify_but_not_with_a_changed_value(test_pki: Path) -> None:
    doc = json.loads(signer(test_pki).sign(packet_bytes("json")))
    doc["NoiDung"]["SoLieu"] = [dict(reversed(list(item.items()))) for item in doc["NoiDung"]["SoLieu"]]
    reordered = dict(reversed(list(doc.items())))
    same = json.dumps(reordered, ensure_ascii=False, indent=2).encode()
    assert verifier(test_pki).verify(same, "reordered").signer.unit_code == "H15"  # JCS: order is not content
    reordered["NoiDung"]["SoLieu"][0]["GiaTri"] = "999.5"
    changed = json.dumps(reordered, ensure_ascii=False).encode()
    assert refused(test_pki, changed).code == "tampered"


@pytest.mark.parametrize("fmt", FORMATS)
def test_signature_from_an_untrusted_ca_is_refused(test_pki: Path, fmt: str) -> None:
    signed = signer(test_pki, "untrusted").sign(packet_bytes(fmt))
    error = refused(test_pki, signed)
    assert error.code == "untrusted"
    assert "trusted root" in str(error)


@pytest.mark.parametrize("fmt", FORMATS)
def test_expired_certificate_is_refused(test_pki: Path, fmt: str) -> None:
    signed = sign_raw(packet_bytes(fmt), key(test_pki, "expired"))
    error = refused(test_pki, signed)
    assert error.code == "expired"
    assert "expired" in str(error)


def test_key_ring_refuses_to_sign_with_an_expired_key(test_pki: Path) -> None:
    with pytest.raises(ConfigurationError, match="no signing key is active and valid"):
        signer(test_pki, "expired").sign(packet_bytes("json"))


@pytest.mark.parametrize("fmt", FORMATS)
def test_revoked_certificate_is_refused(test_pki: Path, fmt: str) -> None:
    signed = signer(test_pki, "revoked").sign(packet_bytes(fmt))
    error = refused(test_pki, signed)
    assert error.code == "revoked"
    assert "revoked" in str(error)


def test_sha1_xml_signature_is_refused_as_weak(test_pki: Path) -> None:
    legacy = resign_xml_sha1(signer(test_pki).sign(packet_bytes("xml")), key(test_pki, "signer"))
    # It is a genuine SHA-1 signature: a verifier that still allowed SHA-1 would accept it ...
    cert = key(test_pki, "signer").certificate
    XMLVerifier().verify(
        legacy,
        x509_cert=cert,
        expect_config=SignatureConfiguration(
            signature_methods=frozenset({SignatureMethod.RSA_SHA1}), digest_algorithms=frozenset({DigestAlgorithm.SHA1})
        ),
    )
    # ... ours refuses it for what it is.
    error = refused(test_pki, legacy)
    assert error.code == "weak_algorithm"
    assert "RSA_SHA1" in str(error)


def test_sha1_json_signature_is_refused_as_weak(test_pki: Path) -> None:
    legacy = resign_json_sha1(signer(test_pki).sign(packet_bytes("json")), key(test_pki, "signer"))
    error = refused(test_pki, legacy)
    assert error.code == "weak_algorithm"
    assert "RS1" in str(error)


def test_every_failure_has_a_distinct_reason(test_pki: Path) -> None:
    data = packet_bytes("json")
    good = signer(test_pki).sign(data)
    codes = {
        refused(test_pki, good.replace(b"1000.5", b"1000.6", 1)).code,
        refused(test_pki, signer(test_pki, "untrusted").sign(data)).code,
        refused(test_pki, sign_raw(data, key(test_pki, "expired"))).code,
        refused(test_pki, signer(test_pki, "revoked").sign(data)).code,
        refused(test_pki, resign_json_sha1(good, key(test_pki, "signer"))).code,
        refused(test_pki, data).code,
    }
    assert codes == {"tampered", "untrusted", "expired", "revoked", "weak_algorithm", "unsigned"}


# ---------------------------------------------------------------- XML signature wrapping
def test_wrapping_a_second_element_with_the_same_id_is_refused(test_pki: Path) -> None:
    """A signer that referenced an element by Id; the attacker adds a second element with that Id."""
    root = etree.fromstring(packet_bytes("xml"))
    body = root.find("{urn:x-qcvn125:gw:0}NoiDung")
    body.set("Id", "noidung")
    who = key(test_pki, "signer")
    signed = XMLSigner(signature_algorithm=SignatureMethod.RSA_SHA256).sign(
        root, key=who.private_key, cert=[who.certificate, *who.chain], reference_uri="#noidung"
    )
    evil = etree.fromstring(etree.tostring(signed))
    forged = etree.fromstring(etree.tostring(evil.find("{urn:x-qcvn125:gw:0}NoiDung")))
    forged.find("{urn:x-qcvn125:gw:0}SoLieu/{urn:x-qcvn125:gw:0}GiaTri").text = "999999.5"
    evil.insert(0, forged)
    error = refused(test_pki, etree.tostring(evil))
    assert error.code == "wrapping"


def test_signature_moved_into_the_body_is_refused(test_pki: Path) -> None:
    """The enveloped transform would still verify a moved Signature; its position is part of the rule."""
    root = etree.fromstring(signer(test_pki).sign(packet_bytes("xml")))
    signature = root.find("ds:Signature", NS)
    root.remove(signature)
    root.find("{urn:x-qcvn125:gw:0}NoiDung").append(signature)
    moved = etree.tostring(root)
    XMLVerifier().verify(moved, x509_cert=key(test_pki, "signer").certificate)  # signxml's default allows it
    error = refused(test_pki, moved)
    assert error.code == "wrapping"
    assert "last child" in str(error)


def test_signed_packet_moved_under_a_forged_root_is_refused(test_pki: Path) -> None:
    genuine = etree.fromstring(signer(test_pki).sign(packet_bytes("xml")))
    forged = etree.fromstring(packet_bytes("xml").replace(b"1000.5", b"7777777.5"))
    holder = etree.SubElement(forged, "{urn:x-qcvn125:gw:0}GhiChu")
    holder.append(genuine)  # the signed subtree travels inside the forgery
    error = refused(test_pki, etree.tostring(forged))
    assert error.code == "wrapping"


def test_two_signatures_are_refused(test_pki: Path) -> None:
    root = etree.fromstring(signer(test_pki).sign(packet_bytes("xml")))
    root.append(etree.fromstring(etree.tostring(root.find("ds:Signature", NS))))
    assert refused(test_pki, etree.tostring(root)).code == "wrapping"


@pytest.mark.parametrize(
    ("replacement", "message"),
    [
        ("bm90IGEgY2VydGlmaWNhdGUgYXQgYWxs", "not a DER certificate"),  # base64 of 'not a certificate at all'
        ("not*base64", "not base64"),
    ],
)
def test_an_embedded_certificate_that_is_not_one_is_a_located_refusal(
    test_pki: Path, replacement: str, message: str
) -> None:
    """Base64 that is not a DER certificate escaped ``xmldsig.inspect`` as a bare ValueError (a 500
    at the intake); the certificates are now loaded once per distinct text, refusals never kept."""
    signed = signer(test_pki).sign(packet_bytes("xml"))
    text = etree.fromstring(signed).find(".//ds:X509Certificate", NS).text
    for _ in range(2):  # the second time too: nothing cached from the first refusal
        error = refused(test_pki, signed.replace(text.encode(), replacement.encode()))
        assert error.code == "malformed" and message in str(error) and "packet.bin" in str(error)
    assert verifier(test_pki).verify(signed, "packet.bin").signer.unit_code == "H15"


# ---------------------------------------------------------------- time, sender, revocation unknown
def test_signing_time_far_in_the_past_or_future_is_refused(test_pki: Path) -> None:
    old = report_packet()
    old = old.model_copy(update={"created_at": datetime.now(UTC) - timedelta(days=45)})
    signed = signer(test_pki).sign(write_packet(old, "json"))
    assert refused(test_pki, signed).code == "too_old"
    assert verifier(test_pki, max_age=None).verify(signed, "archive").signer.unit_code == "H15"
    future = report_packet().model_copy(update={"created_at": datetime.now(UTC) + timedelta(hours=2)})
    assert refused(test_pki, signer(test_pki).sign(write_packet(future, "json"))).code == "not_yet_valid"


def test_signer_of_another_unit_is_refused(test_pki: Path) -> None:
    signed = signer(test_pki, "national").sign(packet_bytes("json"))  # G01's key, packet says H15
    error = refused(test_pki, signed)
    assert error.code == "signer_mismatch"
    assert "G01" in str(error) and "H15" in str(error)


def test_missing_crl_is_unknown_never_valid(test_pki: Path, tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    shutil.copytree(test_pki, pki)
    (pki / "trust" / "intermediate.crl").unlink()
    signed = signer(pki).sign(packet_bytes("json"))
    with pytest.raises(SignatureUnknown) as caught:
        verifier(pki).verify(signed, "packet")
    assert caught.value.code == "revocation_unknown"
    accepted = verifier(pki, trust={"revocation_unknown": "accept"}).verify(signed, "packet")
    assert accepted.signer.revocation == "unknown"  # accepted by policy, and marked so


def test_stale_crl_is_unknown(test_pki: Path) -> None:
    later = datetime.now(UTC) + timedelta(days=45)  # past the CRL's nextUpdate, within the certificate
    with pytest.raises(SignatureUnknown) as caught:
        TrustStore(test_pki / "trust").validate(key(test_pki, "signer").certificate, later)
    assert caught.value.code == "revocation_unknown"


def test_a_refreshed_crl_takes_effect_without_restart(tmp_path: Path) -> None:
    """The CA revokes the signer; dropping its new CRL into trust/ is all it takes."""
    pki = make_test_pki(tmp_path / "pki")
    check = verifier(pki)
    signed = signer(pki).sign(packet_bytes("json"))
    assert check.verify(signed, "before").signer.revocation == "good"
    revoke(pki, "signer")
    with pytest.raises(SignatureInvalid) as caught:
        check.verify(signed, "after")  # the same verifier object: the store reloads itself
    assert caught.value.code == "revoked"


# ---------------------------------------------------------------- keys
def test_key_rotation_switches_at_active_from_and_overlaps(test_pki: Path) -> None:
    passphrase = read_passphrase(file=test_pki / "passphrase.txt")
    now = datetime.now(UTC)
    old = load_key(test_pki / "signer.p12", passphrase)
    new = load_key(test_pki / "signer-ec.p12", passphrase, active_from=now + timedelta(hours=1))
    ring = KeyRing([new, old])
    assert ring.current(now) is old
    assert ring.current(now + timedelta(hours=2)) is new


def test_wrong_passphrase_is_a_clear_configuration_error(test_pki: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"signer\.p12.*wrong passphrase"):
        load_key(test_pki / "signer.p12", b"not-the-passphrase")


def test_passphrase_from_an_unset_environment_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_PASSPHRASE", raising=False)
    with pytest.raises(ConfigurationError, match="NO_SUCH_PASSPHRASE"):
        read_passphrase(env="NO_SUCH_PASSPHRASE")


def test_pem_key_with_certificates_loads(test_pki: Path, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    who = key(test_pki, "signer-ec")
    pem = tmp_path / "key.pem"
    pem.write_bytes(
        who.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pem-pass"),
        )
        + who.certificate.public_bytes(serialization.Encoding.PEM)
        + who.chain[0].public_bytes(serialization.Encoding.PEM)
    )
    loaded = load_key(pem, b"pem-pass")
    assert loaded.certificate == who.certificate
    assert loaded.chain == who.chain
    signed = PacketSigner(PROFILE, KeyRing([loaded])).sign(packet_bytes("xml"))
    assert verifier(test_pki).verify(signed, "x").signer.subject == who.certificate.subject.rfc4514_string()


# ---------------------------------------------------------------- JCS
_json_scalars = st.one_of(st.text(), st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1), st.booleans(), st.none())
_json_docs = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _json_docs, max_size=6))
def test_canonical_form_is_byte_identical_to_rfc8785(doc: dict[str, object]) -> None:
    """The canonical form is the rfc8785 package's, for every document (non-ASCII and astral keys,
    control characters, large integers): one canonicaliser (issues 19, 20)."""
    assert jcs.canonical(doc, "ChuKySo") == rfc8785.dumps({k: v for k, v in doc.items() if k != "ChuKySo"})


def test_canonical_form_of_big_integers_goes_through_rfc8785() -> None:
    with pytest.raises(SignatureInvalid) as caught:
        jcs.canonical({"SoKy": 2**60}, "ChuKySo")  # outside JSON's exact integers: no canonical form
    assert caught.value.code == "malformed"
