"""The Rust-speed wire codec and the fast paths around it: they must change nothing but the speed.

``gateway.packets.wire`` compiles the canonical models' pydantic-core schemas with a profile's wire
names as aliases; ``codec`` writes XML as text; ``safe`` and ``validate`` skip work a closed schema
makes redundant. Each test here pins a property the old, slower path had by construction.
"""

from __future__ import annotations

import gc
import json
import threading
import weakref
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from gateway.errors import InputError, PacketInvalid, UnsafeInputError
from gateway.packets import codec, rules, validate
from gateway.packets import model as m
from gateway.packets.profile import PROFILES_DIR, Profile, load_profile
from gateway.packets.safe import Format
from gateway.packets.validate import gc_paused, read_packet, write_packet
from gateway.packets.wire import wire_model
from tests.unit.test_packets import report

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "profiles"
PROFILES = [load_profile("qcvn125-gw/0", PROFILES_DIR), load_profile("test/en-camel-1", FIXTURES)]


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.id)
def test_compiling_a_profile_leaves_the_canonical_models_alone(profile: Profile) -> None:
    for ptype in m.PacketType:
        wire_model(profile, ptype)
    for cls in (m.Unit, m.Figure, m.Disaggregation, m.Envelope, m.ReportFigures):
        assert cls.__pydantic_complete__ is True
    unit = m.Unit.model_validate({"code": "H15", "name": "Lào Cai"})
    assert unit.model_dump() == {"code": "H15", "name": "Lào Cai"}
    assert report().model_dump(mode="json")["sender"] == {"code": "H15", "name": "Ủy ban nhân dân tỉnh Lào Cai"}


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.id)
def test_nested_models_use_the_profiles_names_both_ways(profile: Profile) -> None:
    codec = wire_model(profile, m.PacketType.SO_LIEU_BAO_CAO)
    wire = codec.dump(report())
    body = wire[profile.wire(m.Envelope, "body")]
    figure = body[profile.wire(m.ReportFigures, "figures")][0]
    cut = figure[profile.wire(m.Figure, "disaggregation")][0]
    assert set(cut) == {profile.wire(m.Disaggregation, "dimension"), profile.wire(m.Disaggregation, "value_code")}
    assert codec.load(wire) == report()
    assert json.loads(codec.dump_json(report())) == wire


def test_model_errors_are_located_by_wire_names() -> None:
    profile = PROFILES[0]
    codec = wire_model(profile, m.PacketType.SO_LIEU_BAO_CAO)
    wire: Any = codec.dump(report())
    del wire["NoiDung"]["SoLieu"][1]["GiaTri"]
    with pytest.raises(ValidationError) as caught:
        codec.load(wire)
    assert [e["loc"] for e in caught.value.errors()] == [("NoiDung", "SoLieu", 1, "GiaTri")]


def test_a_codec_refuses_an_envelope_of_another_type() -> None:
    codec = wire_model(PROFILES[0], m.PacketType.TRANG_THAI_BAO_CAO)
    with pytest.raises(ValueError, match="SO_LIEU_BAO_CAO envelope"):
        codec.dump_json(report())


def test_xml_text_keeps_carriage_returns_and_markup_characters() -> None:
    packet = report(signer=m.Signer(full_name="A & B <C>", title="line one\r\nline two"))
    data = write_packet(packet, "xml")
    assert b"A &amp; B &lt;C&gt;" in data and b"&#13;" in data
    assert read_packet(data) == packet


def test_text_xml_cannot_carry_is_refused_naming_the_element() -> None:
    packet = report(signer=m.Signer(full_name="bell\x07", title="x"))
    assert read_packet(write_packet(packet, "json")) == packet  # JSON escapes it
    with pytest.raises(PacketInvalid) as caught:
        write_packet(packet, "xml")
    (violation,) = caught.value.violations
    assert violation.location == "//HoTen"
    assert "U+0007" in violation.message and "XML 1.0" in violation.message


@pytest.mark.parametrize("depth", [65, 500])
def test_json_nested_past_the_limit_is_named_even_when_the_parser_copes(depth: int) -> None:
    doc = json.loads(write_packet(report(), "json"))
    doc["NoiDung"]["SoLieu"][0]["GhiChu"] = json.loads('{"a":' * depth + "1" + "}" * depth)
    with pytest.raises(UnsafeInputError, match="nested deeper than 64"):
        read_packet(json.dumps(doc).encode(), source="deep.json")


def test_duplicate_keys_are_still_refused_by_name() -> None:
    data = write_packet(report(), "json").replace(b'"LanGui":1', b'"LanGui":1,"LanGui":2')
    with pytest.raises(Exception, match="duplicate key 'LanGui'"):
        read_packet(data)


def _depth(schema: dict[str, Any], root: dict[str, Any], seen: tuple[str, ...] = ()) -> int:
    """Deepest container nesting a document valid under ``schema`` can have (recursion = failure)."""
    if "$ref" in schema:
        ref = schema["$ref"]
        assert ref not in seen, f"recursive schema through {ref}: depth is unbounded"
        target: Any = root
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        return _depth(target, root, (*seen, ref))
    subs = [schema[k] for k in ("items",) if isinstance(schema.get(k), dict)]
    subs += list(schema.get("properties", {}).values())
    for key in ("anyOf", "oneOf", "allOf"):
        subs += schema.get(key, [])
    own = 1 if schema.get("type") in ("object", "array") or "properties" in schema else 0
    if "properties" in schema:
        assert schema.get("additionalProperties") is False, "an open object would let any depth through"
    return own + max((_depth(s, root, seen) for s in subs), default=0)


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.id)
def test_schema_valid_packets_are_shallower_than_the_depth_limit(profile: Profile) -> None:
    """``read_packet`` measures depth only when the schema refuses a document: this is why that is enough."""
    for ptype in m.PacketType:
        schema = json.loads(profile.schema_path("json", ptype).read_text(encoding="utf-8"))
        assert 2 < _depth(schema, schema) <= 64


def test_gc_pause_nests_and_restores_the_collector() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()


class _Cycle:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def test_overlapping_pauses_still_let_the_collector_run_now_and_then(monkeypatch: pytest.MonkeyPatch) -> None:
    """Busy threads can keep the collector paused without a break; past MAX_GC_PAUSE a leaving holder
    runs one collection, so cyclic garbage does not pile up through a soak."""
    monkeypatch.setattr(validate, "MAX_GC_PAUSE", 0.0)
    freed = threading.Event()
    with gc_paused():  # a long-running holder: the pause never breaks while it is inside
        garbage = _Cycle()
        weakref.finalize(garbage, freed.set)
        del garbage
        assert not freed.is_set()  # unreachable, but in a cycle and the collector is off
        with gc_paused():  # another packet, begun and finished inside the long one
            pass
        assert freed.is_set()  # the second holder, leaving after the limit, collected
        assert not gc.isenabled()  # and the pause goes on for the first
    assert gc.isenabled()


def test_within_the_limit_overlapping_pauses_do_not_collect() -> None:
    freed = threading.Event()
    with gc_paused():
        garbage = _Cycle()
        weakref.finalize(garbage, freed.set)
        del garbage
        with gc_paused():
            pass
        assert not freed.is_set()
    gc.collect()
    assert freed.is_set()


@pytest.mark.parametrize("value", ["</HoTen><HoTen>x", "a > b", "R&D", "one\rtwo", "plain text, đủ dấu"])
def test_the_unexamined_xml_writer_is_used_only_when_the_counts_prove_it_right(value: str) -> None:
    profile = PROFILES[0]
    packet = report(signer=m.Signer(full_name=value, title="x"))
    fast = codec.unchecked_xml(packet, profile)
    if value == "plain text, đủ dấu":
        assert fast is not None and fast.encode() == codec.envelope_to_xml(packet, profile)
    else:
        assert fast is None  # the writer that escapes must be used
    assert read_packet(write_packet(packet, "xml")) == packet


@pytest.mark.parametrize("legacy", ["ViÖt Nam", "Vieät Nam"])
def test_legacy_font_text_is_found_in_xml(legacy: str) -> None:
    """The text rules scan a document's UTF-8 bytes and name the field holding legacy-font text."""
    xml = write_packet(report(signer=m.Signer(full_name="A", title="x")), "xml").decode("utf-8")
    xml = xml.replace("<ChucVu>x</ChucVu>", f"<ChucVu>{legacy}</ChucVu>")
    with pytest.raises(PacketInvalid, match="legacy TCVN3/VNI") as caught:
        read_packet(xml.encode("utf-8"))
    assert caught.value.violations[0].location == "/GoiTin/NoiDung/NguoiKy/ChucVu"


def test_xml_declared_in_another_encoding_is_refused_naming_it() -> None:
    """Packets are UTF-8 (the profile): one declared ISO-8859-1 was walked field by field; it is now
    refused, the declared encoding named (tests/unit/test_xml_encoding.py has the other encodings)."""
    xml = write_packet(report(signer=m.Signer(full_name="A", title="x")), "xml").decode("utf-8")
    data = xml.replace("encoding='UTF-8'", "encoding='ISO-8859-1'").encode("latin-1", errors="xmlcharrefreplace")
    with pytest.raises(InputError, match='encoding="ISO-8859-1"'):
        read_packet(data)


def test_the_byte_scan_and_the_text_scan_agree_on_every_marker() -> None:
    for marker in sorted(rules.LEGACY_MARKERS):
        word = f"Vi{marker}t"
        assert rules.text_is_clean(word.encode("utf-8")) is rules.text_is_clean(word) is False, marker
    clean = "Ủy ban nhân dân tỉnh Lào Cai © 2026 ± 5°"
    assert rules.text_is_clean(clean.encode("utf-8")) is rules.text_is_clean(clean) is True


DECOMPOSED = "Vie\u0323\u0302t Nam"  # "Việt Nam" with the marks as combining characters (NFD)


def test_decomposed_text_behind_an_xml_character_reference_is_found() -> None:
    """The byte scan cannot see through ``&#...;``, so a document holding one is walked field by field."""
    xml = write_packet(report(signer=m.Signer(full_name="A", title="x")), "xml").decode("utf-8")
    escaped = "".join(c if ord(c) < 0x300 else f"&#{ord(c)};" for c in DECOMPOSED)
    data = xml.replace("<ChucVu>x</ChucVu>", f"<ChucVu>{escaped}</ChucVu>").encode("utf-8")
    with pytest.raises(PacketInvalid, match="not Unicode NFC") as caught:
        read_packet(data)
    assert caught.value.violations[0].location == "/GoiTin/NoiDung/NguoiKy/ChucVu"


def test_decomposed_text_behind_a_json_escape_is_found() -> None:
    doc = json.loads(write_packet(report(signer=m.Signer(full_name="A", title="x")), "json"))
    doc["NoiDung"]["NguoiKy"]["ChucVu"] = DECOMPOSED
    data = json.dumps(doc, ensure_ascii=True).encode()  # every mark as \\uXXXX
    assert b"\\u0323" in data
    with pytest.raises(PacketInvalid, match="not Unicode NFC") as caught:
        read_packet(data)
    assert caught.value.violations[0].location == "/NoiDung/NguoiKy/ChucVu"


def test_an_xml_escape_in_json_text_and_a_json_escape_in_xml_text_are_plain_text() -> None:
    packet = report(signer=m.Signer(full_name="R&#D \\u0301", title="x"))
    formats: tuple[Format, ...] = ("json", "xml")
    for fmt in formats:
        assert read_packet(write_packet(packet, fmt)) == packet


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_duplicate_figures_are_found_whatever_the_order_of_their_cuts(fmt: Format) -> None:
    cuts = [m.Disaggregation(dimension="DVHC", value_code="02647"), m.Disaggregation(dimension="GT", value_code="NAM")]
    figures = [
        m.Figure(indicator_code="0201", value="1", disaggregation=cuts),
        m.Figure(indicator_code="0201", value="2", disaggregation=cuts[:1]),  # a different cut: allowed
        m.Figure(indicator_code="0201", value="3", disaggregation=cuts[::-1]),  # the first one again
        m.Figure(indicator_code="0201", value="4"),
        m.Figure(indicator_code="0201", value="5"),  # the fourth one again
    ]
    with pytest.raises(PacketInvalid) as caught:
        write_packet(report(figures=figures), fmt)
    assert [(v.location, v.message.split(" (")[0]) for v in caught.value.violations] == [
        ("/NoiDung/SoLieu/2" if fmt == "json" else "/GoiTin/NoiDung/SoLieu[3]", "duplicates figure 0"),
        ("/NoiDung/SoLieu/4" if fmt == "json" else "/GoiTin/NoiDung/SoLieu[5]", "duplicates figure 3"),
    ]


def test_an_invalid_packet_is_refused_on_write_with_the_xpath_of_each_error() -> None:
    """The XSD runs while the written bytes are parsed back (no tree); on a refusal the tree is built
    so every error is named by its place."""
    good = report()
    body = good.body
    assert isinstance(body, m.ReportFigures)
    fields = dict(body.__dict__, form_code="F" * 101)
    bad_figure = m.Figure.model_construct(**dict(body.figures[1].__dict__, indicator_code=""))
    fields["figures"] = [body.figures[0], bad_figure]
    packet = good.model_copy(update={"body": m.ReportFigures.model_construct(**fields)})
    with pytest.raises(PacketInvalid) as caught:
        write_packet(packet, "xml")
    locations = [v.location for v in caught.value.violations]
    assert locations == ["/GoiTin/NoiDung[1]/MaBieuMau[1]", "/GoiTin/NoiDung[1]/SoLieu[2]/MaChiTieu[1]"]
    assert "maxLength" in caught.value.violations[0].message
