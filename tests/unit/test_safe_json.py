"""The hardened JSON reader's C path (``safe._compact``, issue 19): compact JSON, the form signed
packets are sent in, is parsed by msgspec and accepted only when it is proven to be the document the
strict parser makes of the same text; everything else is the strict parser's, with its messages.

The oracle is the standard library's own ``json.loads`` (numbers with a fraction or exponent as
``Decimal``), not our code; one packet is canonicalised by the ``rfc8785`` package and signed by the
``openssl`` command, the way a province's system in another language would send it.
"""

from __future__ import annotations

import base64
import json
import subprocess
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.clock import VN_TZ
from gateway.errors import InputError, SignatureInvalid, UnsafeInputError
from gateway.packets import safe
from gateway.signing import Inbound
from tests.support.signing import PROFILE, key, verifier

EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "qcvn125" / "examples" / "valid"

_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(['"', "\\", "/", "\b", "\f", "\n", "\r", "\t", "\x00", "\x1f", "\x7f", "\u2028"]),
        st.sampled_from(["\ufb33", "\uffff", "\U0001f600", "\U0010ffff", "ệ", "à", "e", "1", "."]),
        st.characters(codec="utf-8"),
    ),
    max_size=8,
)
_numbers = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(lambda d: len(str(d)) <= 100),
)
_docs = st.recursive(
    st.one_of(_text, _numbers, st.booleans(), st.none()),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=5),
    max_leaves=40,
)


def _typed(value: Any) -> Any:
    """``value`` with every number tagged by its type (``1 == Decimal(1)`` in Python; the reader must
    still hand the schema an ``int`` where the text has an integer and a ``Decimal`` elsewhere)."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return (type(value).__name__, str(value))
    return value


def _stdlib(data: bytes) -> Any:
    return json.loads(data, parse_float=Decimal)


def _dumps(value: Any, *, ascii_only: bool, compact: bool = True) -> bytes:
    """JSON text of a generated value (numbers as written: ``Decimal`` by its ``str``)."""

    class Exact(json.JSONEncoder):
        def default(self, o: Any) -> Any:
            raise TypeError(o)

    def plain(v: Any) -> Any:  # Decimals spelled as numbers, through a marker string
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, list):
            return [plain(x) for x in v]
        if isinstance(v, Decimal):
            return f"\x00num:{v}"
        return v

    separators = (",", ":") if compact else (", ", ": ")
    text = json.dumps(plain(value), ensure_ascii=ascii_only, separators=separators, cls=Exact)
    for marker in set(_markers(plain(value))):
        quoted = json.dumps(marker, ensure_ascii=ascii_only)
        text = text.replace(quoted, marker.removeprefix("\x00num:"))
    return text.encode("utf-8", "surrogatepass")


def _markers(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [m for v in value.values() for m in _markers(v)]
    if isinstance(value, list):
        return [m for v in value for m in _markers(v)]
    return [value] if isinstance(value, str) and value.startswith("\x00num:") else []


@settings(max_examples=250, deadline=None)
@given(st.dictionaries(_text, _docs, max_size=6), st.booleans(), st.booleans())
def test_every_document_reads_as_the_standard_library_reads_it(doc: Any, ascii_only: bool, compact: bool) -> None:
    data = _dumps(doc, ascii_only=ascii_only, compact=compact)
    try:
        expected = _typed(_stdlib(data))
    except ValueError:
        return  # not JSON the standard library reads (a lone surrogate is still read: see below)
    assert _typed(safe.parse_json(data, "generated")) == expected


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_text, _docs, min_size=1, max_size=6), st.data())
def test_a_key_written_twice_is_refused_wherever_it_stands(doc: dict[str, Any], data: st.DataObject) -> None:
    """A compact text with one member repeated (same key, maybe another value), at the top or one
    level down: msgspec would keep the last one; the reader refuses it, naming the key."""
    repeated = data.draw(st.sampled_from(sorted(doc)))
    other = data.draw(_docs)
    member = _dumps({repeated: other}, ascii_only=False)[1:-1]
    body = _dumps(doc, ascii_only=False)
    where = data.draw(st.sampled_from(["first", "last", "nested"]))
    if where == "first":
        forged = b"{" + member + b"," + body[1:]
    elif where == "last":
        forged = body[:-1] + b"," + member + b"}"
    else:
        forged = b'{"outer":' + body[:-1] + b"," + member + b"}}"
    with pytest.raises(InputError, match="duplicate key"):
        safe.parse_json(forged, "forged")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # the same key, once escaped: equal once read
        (b'{"MaGoiTin":"a","Ma\\u0047oiTin":"b"}', "duplicate key 'MaGoiTin'"),
        (b'{"a":[{"b":1,"c":2,"b":3}]}', "duplicate key 'b'"),
        # a number longer than the limit in compact text never reaches a converter
        (b'{"a":1' + b"0" * 150 + b"}", "numbers are limited to 100 characters"),
        (b'{"a":-1.' + b"5" * 120 + b"}", "numbers are limited to 100 characters"),
        (b'{"a":NaN}', "NaN at line 1 column 6 is not a JSON number"),
        (b'{"a":"L\xe0o"}', "invalid UTF-8 at byte"),
        (b'{"a":"x"}{"b":1}', "malformed JSON at line 1 column 10"),
    ],
)
def test_compact_hostile_text_gets_the_strict_readers_refusal(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        safe.parse_json(data, "hostile")


def test_an_exponent_beyond_decimal_is_a_located_refusal_not_a_traceback() -> None:
    """``Decimal('1e' + 98 nines)`` raises InvalidOperation: it escaped ``json.loads`` as a traceback."""
    data = b'{"GiaTri":1e' + b"9" * 98 + b"}"
    for text in (data, data.replace(b":", b": ")):  # the C path and the strict one
        with pytest.raises(InputError, match="out of range") as caught:
            safe.parse_json(text, "exponent.json")
        assert caught.value.location == "exponent.json"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_a_number_json_does_not_have_is_refused_naming_the_file_and_place(constant: str) -> None:
    """Python's parser takes ``NaN`` and ``Infinity``; JSON has neither. The refusal said so with no
    file and no place (the verify developer's report, issue 19)."""
    data = ('{\n  "GiaTri": ' + constant + "\n}").encode()
    with pytest.raises(InputError) as caught:
        safe.parse_json(data, "bao-cao.json")
    assert caught.value.location == "bao-cao.json"
    assert f"{constant} at line 2 column 13 is not a JSON number" in str(caught.value)


def test_deep_compact_nesting_is_refused_as_such() -> None:
    deep = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    with pytest.raises(UnsafeInputError, match="nested deeper than 64"):
        safe.parse_json(deep, "deep.json")
    shallow_enough_for_msgspec = b"[" * 200 + b"]" * 200
    with pytest.raises(UnsafeInputError, match="nested deeper than 64"):
        safe.parse_json(shallow_enough_for_msgspec, "deep.json")
    assert safe.parse_json(shallow_enough_for_msgspec, "deep.json", check_depth=False) is not None


def test_numbers_keep_their_exact_type_and_spelling() -> None:
    doc = safe.parse_json(b'{"a":[1.50,2,-7.0e-3,123456789012345678901234567890]}', "n")
    assert _typed(doc) == {
        "a": [("Decimal", "1.50"), ("int", "2"), ("Decimal", "-0.0070"), ("int", "123456789012345678901234567890")]
    }


def test_a_lone_surrogate_is_read_as_before() -> None:
    """msgspec refuses ``\\ud800``; the strict reader, which always read it, still does (the rules
    refuse it later where text must be Unicode)."""
    assert safe.parse_json(b'{"a":"\\ud800"}', "s") == {"a": "\ud800"}


def _openssl_signed_packet(pki: Path, tmp_path: Path) -> bytes:
    """A packet as another implementation makes it: the hand-written example report (contracts/),
    stamped now, in the ``rfc8785`` package's canonical form, signed by ``openssl dgst -sha256
    -sign``, the signature member written by hand."""
    signer = key(pki, "signer")
    unsigned = json.loads((EXAMPLES / "SO_LIEU_BAO_CAO.json").read_text(encoding="utf-8"))
    unsigned["ThoiGianTao"] = datetime.now(VN_TZ).isoformat(timespec="seconds")
    canonical = rfc8785.dumps(unsigned)
    (tmp_path / "data.bin").write_bytes(canonical)
    (tmp_path / "key.pem").write_bytes(
        signer.private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    )
    subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", "key.pem", "-out", "sig.bin", "data.bin"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    value = base64.b64encode((tmp_path / "sig.bin").read_bytes()).decode()
    certificate = base64.b64encode(signer.certificate.public_bytes(Encoding.DER)).decode()
    member = f'"ChuKySo":{{"ChungThu":"{certificate}","GiaTri":"{value}","ThuatToan":"RS256"}}'
    return canonical[:-1] + b"," + member.encode() + b"}"


def test_a_packet_signed_by_openssl_is_read_on_the_c_path_and_forgeries_are_not(test_pki: Path, tmp_path: Path) -> None:
    signed = _openssl_signed_packet(test_pki, tmp_path)
    assert safe._compact(signed) is not safe._NOT_COMPACT  # the C path took it
    assert _typed(safe._compact(signed)) == _typed(_stdlib(signed))
    inbound = Inbound(PROFILE, verifier(test_pki))
    packet, who = inbound.read(signed, source="openssl.json")
    assert who is not None and who.unit_code == "H15"
    written = json.loads((EXAMPLES / "SO_LIEU_BAO_CAO.json").read_text(encoding="utf-8"))["NoiDung"]["SoLieu"]
    assert [str(f.value) for f in packet.body.figures] == [f["GiaTri"] for f in written]  # type: ignore[union-attr]
    # the sender written twice, the forged one last (what a last-wins parser would read): refused
    sender = json.loads(signed)["DonViGui"]
    forged_member = ',"DonViGui":' + json.dumps({**sender, "MaDinhDanh": "B05"}, separators=(",", ":"))
    forged = signed[:-1] + forged_member.encode() + b"}"
    with pytest.raises(InputError, match="duplicate key 'DonViGui'"):
        inbound.read(forged, source="forged.json")
    # one figure changed after openssl signed: compact, parsed on the C path, refused as tampered
    value_at = signed.index(b'"GiaTri":"') + len(b'"GiaTri":"')
    digit = signed[value_at : value_at + 1]
    tampered = signed[:value_at] + (b"7" if digit != b"7" else b"8") + signed[value_at + 1 :]
    assert safe._compact(tampered) is not safe._NOT_COMPACT
    with pytest.raises(SignatureInvalid) as caught:
        inbound.read(tampered, source="tampered.json")
    assert caught.value.code == "tampered"
