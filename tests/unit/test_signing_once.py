"""JSON signatures are canonicalised once (issue 19) by the one canonicaliser, ``rfc8785`` (issue 20).

The signer writes the signed packet as the RFC 8785 form of the unsigned envelope with the signature
object appended, so the bytes signed are the bytes sent. A verifier checks the signature over the
received bytes less that last member, and computes the canonical form only when the packet was
re-serialised on the way. Both paths are tested, and so is every way a packet can be altered.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import rfc8785
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from gateway.errors import InputError, SignatureInvalid
from gateway.packets.validate import write_packet
from gateway.signing import jcs
from tests.support.packets import report_packet
from tests.support.signing import key, signer, verifier


def signed_json(pki: Path, name: str = "signer") -> bytes:
    return signer(pki, name).sign(write_packet(report_packet(month=10, values=25), "json"))


@pytest.mark.parametrize("name", ["signer", "signer-ec"])
def test_a_signed_packet_is_the_rfc8785_form_plus_its_signature(test_pki: Path, name: str) -> None:
    signed = signed_json(test_pki, name)
    doc = json.loads(signed)
    unsigned = {k: v for k, v in doc.items() if k != "ChuKySo"}
    canonical = rfc8785.dumps(unsigned)  # the rfc8785 package, as an independent reading
    assert signed.startswith(canonical[:-1] + b',"ChuKySo":{')
    assert list(doc)[-1] == "ChuKySo"
    verified = verifier(test_pki).verify(signed, "x")
    assert verified.signer.subject


def test_the_rsa_signature_is_plain_pkcs1_over_the_canonical_bytes(test_pki: Path) -> None:
    """Checked with cryptography directly, not with our verifier: what a receiver in another
    language does (canonicalise, then verify RS256)."""
    doc = json.loads(signed_json(test_pki))
    value = base64.b64decode(doc["ChuKySo"]["GiaTri"])
    public = key(test_pki, "signer").certificate.public_key()
    unsigned = {k: v for k, v in doc.items() if k != "ChuKySo"}
    public.verify(value, rfc8785.dumps(unsigned), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr,call-arg,arg-type]


def test_a_packet_reserialised_on_the_way_still_verifies_through_the_canonical_form(test_pki: Path) -> None:
    doc = json.loads(signed_json(test_pki))
    reordered = {"ChuKySo": doc.pop("ChuKySo"), **dict(reversed(list(doc.items())))}
    pretty = json.dumps(reordered, ensure_ascii=True, indent=2).encode()
    assert jcs._as_received(json.loads(pretty), "ChuKySo", pretty) is None  # no verbatim body to check
    assert verifier(test_pki).verify(pretty, "x").signer.subject


def test_a_changed_value_fails_both_paths(test_pki: Path) -> None:
    signed = signed_json(test_pki)
    first = json.loads(signed)["NoiDung"]["SoLieu"][0]["GiaTri"]
    marker = f'"GiaTri":"{first}"'.encode()
    assert signed.index(marker) < signed.index(b'"ChuKySo"')  # a figure's value, not the signature's
    tampered = signed.replace(marker, f'"GiaTri":"{first}1"'.encode(), 1)
    assert tampered != signed
    with pytest.raises(SignatureInvalid) as caught:
        verifier(test_pki).verify(tampered, "x")
    assert caught.value.code == "tampered"
    reordered = json.dumps(dict(reversed(list(json.loads(tampered).items()))), ensure_ascii=False).encode()
    with pytest.raises(SignatureInvalid) as caught:
        verifier(test_pki).verify(reordered, "x")
    assert caught.value.code == "tampered"


def test_whitespace_added_inside_the_signed_bytes_is_refused(test_pki: Path) -> None:
    """The verbatim path accepts only the bytes that were signed; whitespace the signer did not sign
    still has the canonical path, which proves the same values (so it verifies)."""
    signed = signed_json(test_pki)
    spaced = signed.replace(b'":', b'": ', 3)
    doc = json.loads(spaced)
    assert jcs._as_received(doc, "ChuKySo", spaced) is not None  # the tail is still verbatim
    assert verifier(test_pki).verify(spaced, "x").signer.subject  # ... and the canonical form verifies


def test_a_second_signature_member_is_refused_before_any_signature_check(test_pki: Path) -> None:
    signed = signed_json(test_pki)
    doc = json.loads(signed)
    twice = signed[:1] + b'"ChuKySo":' + json.dumps(doc["ChuKySo"]).encode() + b"," + signed[1:]
    with pytest.raises(InputError, match="duplicate"):  # the hardened parser refuses it first
        verifier(test_pki).verify(twice, "x")
