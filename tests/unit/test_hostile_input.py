"""Hostile and broken input is refused with a clear message, without reading or expanding it."""

from __future__ import annotations

import json
import resource

import pytest

from gateway.errors import InputError, PacketInvalid, UnsafeInputError
from gateway.packets.safe import Limits
from gateway.packets.validate import read_packet
from tests.unit.test_goldens import EXAMPLES

VALID_XML = (EXAMPLES / "valid" / "SO_LIEU_BAO_CAO.xml").read_bytes()
VALID_JSON = (EXAMPLES / "valid" / "SO_LIEU_BAO_CAO.json").read_bytes()

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<GoiTin xmlns="urn:x-qcvn125:gw:0"><MaGoiTin>&lol9;</MaGoiTin></GoiTin>"""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_billion_laughs_is_refused_without_expansion() -> None:
    before = peak_rss_mb()
    with pytest.raises(UnsafeInputError, match="entity references are not allowed") as caught:
        read_packet(BILLION_LAUGHS, source="lol.xml")
    assert caught.value.location == "lol.xml"
    assert peak_rss_mb() - before < 50


def test_external_entity_is_refused() -> None:
    xxe = VALID_XML.replace(b"<GoiTin", b'<!DOCTYPE GoiTin [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<GoiTin', 1)
    with pytest.raises(UnsafeInputError, match="DTD"):
        read_packet(xxe, source="xxe.xml")


def test_entity_declared_late_in_a_large_document_is_refused() -> None:
    sneaky = VALID_XML[:-10] + b"<!ENTITY x 'y'>" + VALID_XML[-10:]
    with pytest.raises(UnsafeInputError):
        read_packet(sneaky)


def test_oversize_input_is_refused_before_parsing() -> None:
    with pytest.raises(UnsafeInputError, match="over the limit of 1000 bytes"):
        read_packet(VALID_JSON, source="big.json", limits=Limits(max_bytes=1000))


def test_ten_thousand_deep_xml_is_refused() -> None:
    deep = b'<GoiTin xmlns="urn:x-qcvn125:gw:0">' + b"<a>" * 10_000 + b"</a>" * 10_000 + b"</GoiTin>"
    with pytest.raises(UnsafeInputError, match="too deep"):
        read_packet(deep, source="deep.xml")


def test_ten_thousand_deep_json_is_refused() -> None:
    deep = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
    with pytest.raises(UnsafeInputError, match="nested deeper than 64"):
        read_packet(deep, source="deep.json")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (VALID_JSON.replace("Lào".encode(), b"L\xe0o"), "invalid UTF-8 at byte"),
        (VALID_XML.replace("Lào".encode(), b"L\xe0o"), "malformed XML"),
        ("Lào Cai".encode("utf-16"), "UTF-16"),
        (b"\x00\x01garbage", "neither JSON nor XML"),
        (VALID_JSON[:-40], "malformed JSON at line"),
    ],
)
def test_broken_encodings_are_named(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_packet(data, source="broken")


def test_duplicate_json_keys_are_refused() -> None:
    with pytest.raises(InputError, match="duplicate key 'MaGoiTin'"):
        read_packet(b'{"MaGoiTin": "a", "MaGoiTin": "b"}')


@pytest.mark.parametrize(("legacy", "what"), [("ViÖt Nam", "TCVN3"), ("Vieät Nam", "VNI")])
def test_legacy_font_text_is_refused_where_nfc_unicode_is_required(legacy: str, what: str) -> None:
    doc = json.loads(VALID_JSON)
    doc["NoiDung"]["NguoiKy"]["ChucVu"] = legacy
    with pytest.raises(PacketInvalid, match="legacy TCVN3/VNI") as caught:
        read_packet(json.dumps(doc, ensure_ascii=False).encode())
    assert caught.value.violations[0].location == "/NoiDung/NguoiKy/ChucVu", what


def test_element_count_limit_holds_whatever_the_size_shortcut() -> None:
    """``Limits.max_elements``: counted only when the bytes could hold more elements than allowed
    (four bytes each at least); the shortest elements and a UTF-16 document are still counted."""
    from gateway.packets.safe import parse_xml

    limits = Limits(max_elements=10)
    ten = b"<r>" + b"<a/>" * 9 + b"</r>"
    assert len(parse_xml(ten, "ten.xml", limits)) == 9
    utf16 = ('<?xml version="1.0" encoding="UTF-16"?><r>' + "<a/>" * 10 + "</r>").encode("utf-16")
    for over in (b"<r>" + b"<a/>" * 10 + b"</r>", utf16):
        with pytest.raises(UnsafeInputError, match="more than 10 XML elements"):
            parse_xml(over, "eleven.xml", limits)
