"""RFC 8785 canonical JSON written by the C ``json`` module where that is provably the same (issue 19).

Every result is compared with the ``rfc8785`` package (an independent implementation) and with the
examples printed in RFC 8785 itself (hand-copied from the RFC, sections 3.2.3 and 3.2.4). The packet
writer's ``canonical=True`` bytes are signed as they are; openssl checks the signature over them.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import PacketInvalid, SignatureInvalid
from gateway.packets import canonical
from gateway.packets import model as m
from gateway.packets.canonical import CanonicalEnvelope, CanonicalJson
from gateway.packets.validate import write_packet
from gateway.signing import jcs
from gateway.signing.seal import Sealer
from tests.support.packets import report_packet
from tests.support.signing import PROFILE, key, signer, verifier

# Text that exercises every difference between the two writers: controls, quotes, backslashes, DEL,
# U+2028, characters in U+E000-U+FFFF and above U+FFFF (which sort differently in UTF-16).
_tricky = st.text(
    alphabet=st.one_of(
        st.sampled_from(['"', "\\", "/", "\b", "\f", "\n", "\r", "\t", "\x00", "\x1f", "\x7f", "\u2028"]),
        st.sampled_from(["\ufb33", "\uffff", "\ue000", "\U0001f600", "\U00021a38", "\U0010ffff", "€", "ệ"]),
        st.characters(codec="utf-8"),
    ),
    max_size=8,
)
_scalars = st.one_of(
    _tricky,
    st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
    st.integers(min_value=2**53 - 3, max_value=2**64),
    st.integers(max_value=-(2**53) + 3, min_value=-(2**64)),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
_docs = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_tricky, inner, max_size=5),
    max_leaves=40,
)


def _rfc8785(value: Any) -> bytes | type[Exception]:
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, ValueError):
        return canonical.NoCanonicalForm


def _ours(value: Any) -> bytes | type[Exception]:
    try:
        return canonical.canonical(value)
    except canonical.NoCanonicalForm:
        return canonical.NoCanonicalForm


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_tricky, _docs, max_size=6))
def test_canonical_equals_rfc8785_for_every_generated_document(doc: dict[str, Any]) -> None:
    assert _ours(doc) == _rfc8785(doc)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_tricky, _docs, max_size=6), st.booleans())
def test_parse_then_form_equals_rfc8785_of_the_same_text(doc: dict[str, Any], ascii_only: bool) -> None:
    """The writer's path: JSON text (escaped or raw, astral characters as surrogate-pair escapes)
    parsed with the hooks, then written."""
    text = json.dumps(doc, ensure_ascii=ascii_only)
    parsed, plain = canonical.parse(text.encode("utf-8"))
    expected = _rfc8785(json.loads(text))
    try:
        got: bytes | type[Exception] = canonical.form(parsed, plain)
    except canonical.NoCanonicalForm:
        got = canonical.NoCanonicalForm
    assert got == expected
    if any(isinstance(v, float) for v in _leaves(doc)):
        assert not plain  # floats are never written by json.dumps here


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def test_rfc8785_example_of_section_3_2_4() -> None:
    """The RFC's own input and output, copied by hand (numbers go through the rfc8785 fallback)."""
    text = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    ).encode()
    doc, plain = canonical.parse(text.encode())
    assert not plain
    assert canonical.form(doc, plain) == expected
    assert canonical.canonical(json.loads(text)) == expected
    # the string member alone takes the fast path and gives the same bytes
    only = {"string": json.loads(text)["string"], "literals": [None, True, False]}
    assert (
        canonical.canonical(only)
        == b'{"literals":[null,true,false],"string":"\xe2\x82\xac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )


def test_rfc8785_sorting_example_of_section_3_2_3() -> None:
    """UTF-16 order puts U+1F600 (a surrogate pair) before U+FB33, code-point order after it: the
    fast path must notice the astral key and give the RFC's order."""
    doc = json.loads(
        '{"\\u20ac": "Euro Sign", "\\r": "Carriage Return", "\\ufb33": "Hebrew Letter Dalet With Dagesh",'
        ' "1": "One", "\\ud83d\\ude00": "Emoji: Grinning Face", "\\u0080": "Control",'
        ' "\\u00f6": "Latin Small Letter O With Diaeresis"}'
    )
    order = [
        "Carriage Return",
        "One",
        "Control",
        "Latin Small Letter O With Diaeresis",
        "Euro Sign",
        "Emoji: Grinning Face",
        "Hebrew Letter Dalet With Dagesh",
    ]
    written = canonical.canonical(doc)
    assert list(json.loads(written).values()) == order
    assert written == rfc8785.dumps(doc)


def test_out_of_range_integers_and_lone_surrogates_have_no_canonical_form() -> None:
    for bad in ({"SoKy": 2**53}, {"SoKy": -(2**53)}, {"Ten": "\ud800"}, {"x": float("nan")}):
        with pytest.raises(canonical.NoCanonicalForm):
            canonical.canonical(bad)
    assert canonical.canonical({"SoKy": 2**53 - 1}) == b'{"SoKy":9007199254740991}'
    doc, plain = canonical.parse(b'{"SoKy": 9007199254740992}')
    assert not plain
    with pytest.raises(canonical.NoCanonicalForm):
        canonical.form(doc, plain)


def _tricky_packet() -> m.Envelope:
    envelope = report_packet(values=30)
    names = 'Ủy ban "tỉnh" \\ Lào Cai 𡨸 😀 \ue000 \uff21 \u2028'
    body = envelope.body.model_copy(update={"reporting_unit": m.Unit(code="H15", name=names)})
    return envelope.model_copy(update={"sender": m.Unit(code="H15", name=names), "body": body})


def test_the_writer_emits_the_rfc8785_form_when_asked() -> None:
    envelope = _tricky_packet()
    plain = write_packet(envelope, "json", profile=PROFILE)
    written = write_packet(envelope, "json", profile=PROFILE, canonical=True)
    assert isinstance(written, CanonicalEnvelope) and not isinstance(plain, CanonicalJson)
    assert written == rfc8785.dumps(json.loads(plain))
    assert json.loads(written) == json.loads(plain)
    assert write_packet(envelope, "json", profile=PROFILE, canonical=True, validate=False) == written


def test_the_writer_still_validates_canonical_output() -> None:
    envelope = report_packet(values=3)
    bad = envelope.body.model_copy(update={"form_code": ""})
    with pytest.raises(PacketInvalid):
        write_packet(envelope.model_copy(update={"body": bad}), "json", profile=PROFILE, canonical=True)


@pytest.mark.parametrize("name", ["signer", "signer-ec"])
def test_canonical_writer_bytes_are_signed_as_they_are_and_openssl_agrees(
    test_pki: Path, tmp_path: Path, name: str
) -> None:
    """The sealer's path: canonical bytes from the writer, hashed once. Checked by openssl over the
    rfc8785 package's form of the received packet (what a receiver in another language does), and
    by our verifier."""
    who = key(test_pki, name)
    sealer = Sealer(PROFILE, signer(test_pki, name), ["national"])
    signed = sealer.seal(_tricky_packet(), "json", ["national"])
    doc = json.loads(signed)
    signature = doc.pop("ChuKySo")
    data = tmp_path / "data.bin"
    data.write_bytes(rfc8785.dumps(doc))
    assert signed.startswith(data.read_bytes()[:-1] + b',"ChuKySo":{')
    raw = base64.b64decode(signature["GiaTri"])
    if signature["ThuatToan"].startswith("ES"):  # JWS raw r||s -> DER for openssl
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

        half = len(raw) // 2
        raw = encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
    (tmp_path / "sig.bin").write_bytes(raw)
    (tmp_path / "pub.pem").write_bytes(
        who.certificate.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    result = subprocess.run(
        ["openssl", "dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.bin", "data.bin"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and "Verified OK" in result.stdout, result.stdout + result.stderr
    assert verifier(test_pki).verify(signed, "x").signer.subject


def test_sign_many_gives_each_packet_its_own_verifiable_signature(test_pki: Path) -> None:
    packets = [write_packet(report_packet(month=k, values=5), "json", canonical=True) for k in (1, 2, 3)]
    packets.append(write_packet(report_packet(month=4, values=5), "json"))  # not canonical: parsed first
    signed = signer(test_pki).sign_many(packets)
    assert len({json.loads(s)["ChuKySo"]["GiaTri"] for s in signed}) == 4
    for one in signed:
        assert verifier(test_pki).verify(one, "x").signer.subject


def test_canonical_bytes_that_already_carry_a_signature_are_re_canonicalised(test_pki: Path) -> None:
    """A signature member inside canonical bytes is not signed over: the slow path strips it."""
    signed = signer(test_pki).sign(write_packet(report_packet(values=3), "json", canonical=True))
    doc = json.loads(signed)
    carried = canonical.canonical(doc)
    assert not isinstance(carried, CanonicalEnvelope)  # not the writer's unsigned form: parsed again
    again = signer(test_pki).sign(carried)
    assert verifier(test_pki).verify(again, "x").signer.subject
    assert again.count(b'"ChuKySo":') == 1
    with pytest.raises(SignatureInvalid):
        jcs.canonical({"SoKy": 2**60}, "ChuKySo")


_plain_scalars = st.one_of(_tricky, st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1), st.booleans(), st.none())
_plain_docs = st.recursive(
    _plain_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_tricky, inner, max_size=5),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(_tricky, _plain_docs, max_size=6))
def test_plain_dumps_writes_exactly_what_json_dumps_writes(doc: dict[str, Any]) -> None:
    """msgspec writes a plain document where no character needed an escape; what it escaped, and a
    lone surrogate, go to ``json``: the bytes (or the ``UnicodeEncodeError``) are ``json.dumps``'."""
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    try:
        expected: bytes | type[Exception] = text.encode("utf-8")
    except UnicodeEncodeError:
        expected = UnicodeEncodeError
    try:
        got: bytes | type[Exception] = canonical.plain_dumps(doc)
    except UnicodeEncodeError:
        got = UnicodeEncodeError
    assert got == expected


def test_plain_dumps_of_a_report_sized_document_is_msgspecs_and_json_agrees() -> None:
    """Vietnamese text, no escape: the C encoder's bytes, the same as ``json.dumps``'."""
    figures = [
        {"MaChiTieu": f"T{i:04d}", "GiaTri": f"{i}.5", "DonViTinh": "người", "Ghi chú": "Hà Nội"} for i in range(500)
    ]
    doc = {"z": 1, "Gói tin": {"SoLieu": figures, "a": None, "b": True}}
    assert canonical.plain_dumps(doc) == json.dumps(
        doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    assert canonical._msgspec_encode() is not None  # msgspec is a dependency: this path is the one taken
