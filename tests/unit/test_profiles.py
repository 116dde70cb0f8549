"""The conformance suite, run against every profile folder: the shipped one and a test profile with
English camelCase names that exists only as data (tests/fixtures/profiles). Property-based: packets of
all 13 types are generated from the canonical model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.errors import ConfigurationError, PacketInvalid
from gateway.packets import codec, safe, schemas
from gateway.packets import model as m
from gateway.packets.profile import PROFILES_DIR, Profile, load_profile
from gateway.packets.validate import read_packet, write_packet
from tests.support.strategies import envelope_strategy

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "profiles"
PROFILES = [load_profile("qcvn125-gw/0", PROFILES_DIR), load_profile("test/en-camel-1", FIXTURES)]
CASES = [(p, t) for p in PROFILES for t in m.PacketType]


def ids(case: tuple[Profile, m.PacketType]) -> str:
    return f"{case[0].id}:{case[1].value}"


@pytest.mark.parametrize("case", CASES, ids=[ids(c) for c in CASES])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_round_trips_are_lossless(case: tuple[Profile, m.PacketType], data: st.DataObject) -> None:
    profile, ptype = case
    packet = data.draw(envelope_strategy(ptype, profile))
    as_json = write_packet(packet, "json", profile=profile)
    as_xml = write_packet(packet, "xml", profile=profile)
    from_json = read_packet(as_json, profile=profile)
    from_xml = read_packet(as_xml, profile=profile)
    assert from_json == packet
    assert from_xml == packet
    assert write_packet(from_xml, "json", profile=profile) == as_json  # JSON -> XML -> JSON is the identity
    # Every XML text is exactly pydantic's JSON rendering of the value (the XML writer formats
    # canonical values itself: timestamps with Z or an offset, dates, integers, enums, UUIDs).
    assert codec.xml_to_wire(safe.parse_xml(as_xml), profile) == (json.loads(as_json), [])


@pytest.mark.parametrize("profile", PROFILES, ids=[p.id for p in PROFILES])
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_profiles_use_their_own_names(profile: Profile, data: st.DataObject) -> None:
    packet = data.draw(envelope_strategy(m.PacketType.SO_LIEU_BAO_CAO, profile))
    doc = json.loads(write_packet(packet, "json", profile=profile))
    assert profile.wire(m.Envelope, "packet_id") in doc
    xml = write_packet(packet, "xml", profile=profile)
    assert f'<{profile.root_element} xmlns="{profile.namespace}"'.encode() in xml


@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_a_packet_of_one_profile_is_invalid_under_the_other(data: st.DataObject) -> None:
    gw0, camel = PROFILES
    packet = data.draw(envelope_strategy(m.PacketType.TRANG_THAI_BAO_CAO, gw0))
    with pytest.raises(PacketInvalid) as caught:
        read_packet(write_packet(packet, "json", profile=gw0), profile=camel)
    assert caught.value.violations[0].location == "/packetType"


@pytest.mark.parametrize("profile", PROFILES, ids=[p.id for p in PROFILES])
def test_committed_schemas_match_the_models(profile: Profile) -> None:
    """Fails when a profile's schema files drift; regenerate with `gateway contracts build`."""
    for ptype in m.PacketType:
        committed = json.loads(profile.schema_path("json", ptype).read_text(encoding="utf-8"))
        assert committed == schemas.json_schema(profile, ptype), ptype
        assert profile.schema_path("xsd", ptype).read_bytes() == schemas.xsd(profile, ptype), ptype


def _copy_profile(tmp_path: Path, edit: dict[str, str]) -> Path:
    source = PROFILES_DIR / "qcvn125-gw-0" / "profile.json"
    raw = json.loads(source.read_text(encoding="utf-8"))
    raw["id"] = "test/edited-1"
    for key, value in edit.items():
        if key in ("root_element", "signature_element"):
            raw[key] = value
        else:
            raw["names"][key] = value
    folder = tmp_path / "test-edited-1"
    folder.mkdir()
    (folder / "profile.json").write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        ({"indicator_code": "Mã Chỉ Tiêu"}, "indicator_code -> 'Mã Chỉ Tiêu'"),
        ({"value": "1GiaTri"}, "value -> '1GiaTri'"),
        ({"root_element": "q:GoiTin"}, "root_element -> 'q:GoiTin'"),
    ],
)
def test_a_profile_name_that_cannot_be_an_xml_element_is_refused_at_load(
    tmp_path: Path, edit: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigurationError, match="not usable as an XML element name") as caught:
        load_profile("test/edited-1", _copy_profile(tmp_path, edit))
    assert named in str(caught.value)


def test_a_profile_with_vietnamese_element_names_loads(tmp_path: Path) -> None:
    """NCNames may hold any letters: a profile in Vietnamese with diacritics is valid XML."""
    profile = load_profile("test/edited-1", _copy_profile(tmp_path, {"indicator_code": "MãChỉTiêu"}))
    assert profile.wire(m.Figure, "indicator_code") == "MãChỉTiêu"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not UTF-8 JSON"),
        (b'{"id": "test/edited-1", "\xff": 1}', "not UTF-8 JSON"),
        (b'{"id": "test/edited-1", "namespace": "urn:x", "names": {}}', "'root_element' is missing"),
        (b'{"id": "test/edited-1", "namespace": "urn:x", "root_element": "R", "names": [1]}', "'names' must be"),
        (b"[]", "id is None"),
    ],
    ids=["malformed", "not-utf8", "missing-key", "names-not-an-object", "not-an-object"],
)
def test_a_broken_profile_file_is_named_not_a_traceback(tmp_path: Path, content: bytes, message: str) -> None:
    folder = tmp_path / "test-edited-1"
    folder.mkdir()
    (folder / "profile.json").write_bytes(content)
    with pytest.raises(ConfigurationError, match=message) as caught:
        load_profile("test/edited-1", tmp_path)
    assert "profile.json" in str(caught.value)
