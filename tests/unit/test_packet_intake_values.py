"""Figure values and codes as a received packet carries them: a number only in plain decimal notation
(``GiaTri``), and no white space around a code or a value; and the published schemas (XSD, JSON
Schema) agree with what the gateway accepts for these fields.

The packets are written by hand from /work/shared/qcvn125.md (not by our writer), and the schemas
are checked with lxml and jsonschema-rs straight from the committed files, not through our reader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from lxml import etree

from gateway.errors import PacketInvalid
from gateway.packets.validate import read_packet

PROFILE_DIR = Path(__file__).resolve().parents[2] / "contracts" / "qcvn125" / "profiles" / "qcvn125-gw-0"
NS = "urn:x-qcvn125:gw:0"

FIGURES_XML = """<?xml version="1.0" encoding="UTF-8"?>
<GoiTin xmlns="urn:x-qcvn125:gw:0">
  <MaGoiTin>3f2a9c1e-8b7d-4e6f-a5c4-b3d2e1f0a9b8</MaGoiTin>
  <LoaiGoiTin>SO_LIEU_BAO_CAO</LoaiGoiTin>
  <PhienBanHoSo>qcvn125-gw/0</PhienBanHoSo>
  <ThoiGianTao>2026-10-20T09:00:00+07:00</ThoiGianTao>
  <DonViGui><MaDinhDanh>{sender}</MaDinhDanh><Ten>Ủy ban nhân dân tỉnh Lào Cai</Ten></DonViGui>
  <DonViNhan><MaDinhDanh>G01</MaDinhDanh><Ten>Hệ thống thông tin báo cáo Chính phủ</Ten></DonViNhan>
  <NoiDung>
    <MaCheDo>KTXH-THANG</MaCheDo>
    <MaBieuMau>BM01-KT</MaBieuMau>
    <KyBaoCao><LoaiKy>THANG</LoaiKy><SoKy>{number}</SoKy><Nam>2026</Nam>\
<TuNgay>{start}</TuNgay><DenNgay>2026-10-14</DenNgay></KyBaoCao>
    <DonViBaoCao><MaDinhDanh>H15</MaDinhDanh><Ten>Ủy ban nhân dân tỉnh Lào Cai</Ten></DonViBaoCao>
    <LanGui>1</LanGui>
    <ThoiGianGui>2026-10-20T09:00:00+07:00</ThoiGianGui>
    <SoLieu><MaChiTieu>{indicator}</MaChiTieu><MaCot>TH</MaCot><GiaTri>1523.75</GiaTri></SoLieu>
    <SoLieu><MaChiTieu>0502</MaChiTieu><MaCot>TH</MaCot><GiaTri>{value}</GiaTri></SoLieu>
  </NoiDung>
</GoiTin>
"""
DEFAULTS = {"sender": "H15", "number": "10", "start": "2026-09-15", "indicator": "0501", "value": "84.2"}


def figures_xml(**changes: str) -> bytes:
    return FIGURES_XML.format(**{**DEFAULTS, **changes}).encode("utf-8")


def figures_json(**changes: Any) -> dict[str, Any]:
    f = {**DEFAULTS, **changes}
    return {
        "MaGoiTin": "3f2a9c1e-8b7d-4e6f-a5c4-b3d2e1f0a9b8",
        "LoaiGoiTin": "SO_LIEU_BAO_CAO",
        "PhienBanHoSo": "qcvn125-gw/0",
        "ThoiGianTao": "2026-10-20T09:00:00+07:00",
        "DonViGui": {"MaDinhDanh": f["sender"], "Ten": "Ủy ban nhân dân tỉnh Lào Cai"},
        "DonViNhan": {"MaDinhDanh": "G01", "Ten": "Hệ thống thông tin báo cáo Chính phủ"},
        "NoiDung": {
            "MaCheDo": "KTXH-THANG",
            "MaBieuMau": "BM01-KT",
            "KyBaoCao": {
                "LoaiKy": "THANG",
                "SoKy": int(f["number"]),
                "Nam": 2026,
                "TuNgay": f["start"],
                "DenNgay": "2026-10-14",
            },
            "DonViBaoCao": {"MaDinhDanh": "H15", "Ten": "Ủy ban nhân dân tỉnh Lào Cai"},
            "LanGui": 1,
            "ThoiGianGui": "2026-10-20T09:00:00+07:00",
            "SoLieu": [
                {"MaChiTieu": f["indicator"], "MaCot": "TH", "GiaTri": "1523.75"},
                {"MaChiTieu": "0502", "MaCot": "TH", "GiaTri": f["value"]},
            ],
        },
    }


def as_bytes(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8")


def refusal(data: bytes) -> PacketInvalid:
    with pytest.raises(PacketInvalid) as caught:
        read_packet(data, source="hand-written")
    return caught.value


def test_the_hand_written_packets_are_valid() -> None:
    assert read_packet(figures_xml(), source="x").body.figures[1].value == "84.2"  # type: ignore[attr-defined]
    assert read_packet(as_bytes(figures_json()), source="x").body.figures[1].value == "84.2"  # type: ignore[attr-defined]


OTHER_NOTATIONS = ["1,234.5", "1.234,5", "1e3", "1.5E-7", "NaN", "-Infinity", "+5", ".5", "5.", "1,5", "1 234,5"]


@pytest.mark.parametrize("value", OTHER_NOTATIONS)
def test_a_number_in_another_notation_is_refused_in_xml_with_its_xpath(value: str) -> None:
    problems = refusal(figures_xml(value=value)).violations
    assert [v.location for v in problems] == ["/GoiTin/NoiDung/SoLieu[2]/GiaTri"], problems
    assert repr(value) in problems[0].message and "plain decimal" in problems[0].message


@pytest.mark.parametrize("value", OTHER_NOTATIONS)
def test_a_number_in_another_notation_is_refused_in_json_with_its_pointer(value: str) -> None:
    problems = refusal(as_bytes(figures_json(value=value))).violations
    assert [v.location for v in problems] == ["/NoiDung/SoLieu/1/GiaTri"], problems
    assert repr(value) in problems[0].message and "plain decimal" in problems[0].message


@pytest.mark.parametrize("value", ["0", "-0.5", "1234.50", "Số ước tính", "2026-10-01", "01", "Tổ 1,2"])
def test_plain_decimals_and_text_of_a_text_column_pass(value: str) -> None:
    """The profile: "decimal string, or text when the column is VAN_BAN" (and a date in an NGAY
    column); which column is text is in the form, so text that is no number passes."""
    for data in (figures_xml(value=value), as_bytes(figures_json(value=value))):
        assert read_packet(data, source="x").body.figures[1].value == value  # type: ignore[attr-defined]


DU_LIEU = {
    "MaGoiTin": "0b1c2d3e-4f50-4617-8829-3a4b5c6d7e8f",
    "LoaiGoiTin": "DU_LIEU_CHI_SO",
    "PhienBanHoSo": "qcvn125-gw/0",
    "ThoiGianTao": "2026-10-20T09:00:00+07:00",
    "DonViGui": {"MaDinhDanh": "H15", "Ten": "Ủy ban nhân dân tỉnh Lào Cai"},
    "DonViNhan": {"MaDinhDanh": "G01", "Ten": "Hệ thống thông tin báo cáo Chính phủ"},
    "NoiDung": {
        "DonViBaoCao": {"MaDinhDanh": "H15", "Ten": "Ủy ban nhân dân tỉnh Lào Cai"},
        "DuLieu": [
            {
                "MaChiSo": "CS-0501",
                "KyBaoCao": {"LoaiKy": "QUY", "SoKy": 3, "Nam": 2026, "TuNgay": "2026-06-15", "DenNgay": "2026-09-14"},
                "GiaTri": "12.35",
                "TrangThaiSoLieu": "SO_BO",
                "ThoiGianCapNhat": "2026-10-20T09:00:00+07:00",
            }
        ],
    },
}


@pytest.mark.parametrize("value", [*OTHER_NOTATIONS, " 12.35", "12.35\n", "١٢"])
def test_kpi_values_take_plain_decimals_only_in_both_formats(value: str) -> None:
    doc = json.loads(json.dumps(DU_LIEU))
    doc["NoiDung"]["DuLieu"][0]["GiaTri"] = value
    problems = refusal(as_bytes(doc)).violations
    assert [v.location for v in problems] == ["/NoiDung/DuLieu/0/GiaTri"]
    body = doc["NoiDung"]["DuLieu"][0]
    xml = (
        f'<GoiTin xmlns="{NS}"><MaGoiTin>{doc["MaGoiTin"]}</MaGoiTin><LoaiGoiTin>DU_LIEU_CHI_SO</LoaiGoiTin>'
        "<PhienBanHoSo>qcvn125-gw/0</PhienBanHoSo><ThoiGianTao>2026-10-20T09:00:00+07:00</ThoiGianTao>"
        "<DonViGui><MaDinhDanh>H15</MaDinhDanh><Ten>Lào Cai</Ten></DonViGui>"
        "<DonViNhan><MaDinhDanh>G01</MaDinhDanh><Ten>Chính phủ</Ten></DonViNhan>"
        "<NoiDung><DonViBaoCao><MaDinhDanh>H15</MaDinhDanh><Ten>Lào Cai</Ten></DonViBaoCao>"
        f"<DuLieu><MaChiSo>CS-0501</MaChiSo><KyBaoCao><LoaiKy>QUY</LoaiKy><SoKy>3</SoKy><Nam>2026</Nam>"
        "<TuNgay>2026-06-15</TuNgay><DenNgay>2026-09-14</DenNgay></KyBaoCao>"
        f"<GiaTri>{body['GiaTri']}</GiaTri><TrangThaiSoLieu>SO_BO</TrangThaiSoLieu>"
        "<ThoiGianCapNhat>2026-10-20T09:00:00+07:00</ThoiGianCapNhat></DuLieu></NoiDung></GoiTin>"
    )
    problems = refusal(xml.encode("utf-8")).violations
    assert [v.location for v in problems] == ["/GoiTin/NoiDung[1]/DuLieu[1]/GiaTri[1]"], problems
    assert "plain decimal" in problems[0].message and "[facet" not in problems[0].message


# ------------------------------------------------------------------ white space around codes and values
PADDED = [" H15", "H15 ", "\tH15", "H15\n", "H15\r\n"]


@pytest.mark.parametrize("code", PADDED)
def test_padded_codes_are_refused_with_their_place(code: str) -> None:
    """A unit code, an indicator code: ``" H15"`` is another unit to every receiver."""
    xml = refusal(figures_xml(sender=code.replace("\r", "&#13;"))).violations
    assert [v.location for v in xml] == ["/GoiTin/DonViGui[1]/MaDinhDanh[1]"], xml
    assert "white space at its start or end" in xml[0].message
    js = refusal(as_bytes(figures_json(indicator=code))).violations
    assert [v.location for v in js] == ["/NoiDung/SoLieu/0/MaChiTieu"], js
    assert "white space at its start or end" in js[0].message


@pytest.mark.parametrize("value", [" 84.2", "84.2 ", " Số ước tính", "Số ước tính\n"])
def test_padded_figure_values_are_refused(value: str) -> None:
    assert [v.location for v in refusal(as_bytes(figures_json(value=value))).violations] == ["/NoiDung/SoLieu/1/GiaTri"]
    assert [v.location for v in refusal(figures_xml(value=value)).violations] == [
        "/GoiTin/NoiDung[1]/SoLieu[2]/GiaTri[1]"
    ]


def test_a_padded_period_key_is_refused() -> None:
    doc = {
        "MaGoiTin": "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b",
        "LoaiGoiTin": "DANH_MUC_KY_BAO_CAO",
        "PhienBanHoSo": "qcvn125-gw/0",
        "ThoiGianTao": "2026-10-20T09:00:00+07:00",
        "DonViGui": {"MaDinhDanh": "G01", "Ten": "Chính phủ"},
        "DonViNhan": {"MaDinhDanh": "H15", "Ten": "Lào Cai"},
        "NoiDung": {
            "Ky": [
                {
                    "MaKy": "2026-QUY-3 ",
                    "KyBaoCao": {
                        "LoaiKy": "QUY",
                        "SoKy": 3,
                        "Nam": 2026,
                        "TuNgay": "2026-06-15",
                        "DenNgay": "2026-09-14",
                    },
                    "HanGui": "2026-09-20",
                }
            ]
        },
    }
    locations = {v.location for v in refusal(as_bytes(doc)).violations}
    assert "/NoiDung/Ky/0/MaKy" in locations


# ------------------------------------------------------------------ the schemas and the gateway agree
def xsd_accepts(data: bytes) -> bool:
    schema = etree.XMLSchema(etree.parse(str(PROFILE_DIR / "xsd" / "SO_LIEU_BAO_CAO.xsd")))
    return bool(schema.validate(etree.fromstring(data)))


def json_schema_accepts(doc: dict[str, Any]) -> bool:
    schema = json.loads((PROFILE_DIR / "json" / "SO_LIEU_BAO_CAO.schema.json").read_text(encoding="utf-8"))
    return bool(jsonschema_rs.Draft202012Validator(schema).is_valid(doc))


def gateway_accepts(data: bytes) -> bool:
    try:
        read_packet(data, source="x")
    except PacketInvalid:
        return False
    return True


WHITESPACE_CASES = [
    {"sender": " H15"},
    {"sender": "H15\t"},
    {"indicator": "0501 "},
    {"indicator": "\n0501"},
    {"value": " 84.2"},
    {"value": "84.2\n"},
    {"start": " 2026-09-15"},
    {"start": "2026-09-15 "},
    {"start": "\n2026-09-15\n"},
    {"number": " 10"},
    {"number": "10\n"},
    {"indicator": "0501"},
    {"start": "2026-09-15"},
]


@pytest.mark.parametrize("change", WHITESPACE_CASES, ids=[repr(c) for c in WHITESPACE_CASES])
def test_the_xsd_and_the_gateway_agree_on_white_space(change: dict[str, str]) -> None:
    """Both directions: what the published XSD accepts the gateway reads, and what it refuses the
    gateway refuses. XSD collapses white space in dates and integers (``xs:date``, ``xs:integer``),
    so the gateway reads those as XSD does; codes and values are strings, where it is refused."""
    data = figures_xml(**change)
    assert xsd_accepts(data) == gateway_accepts(data), change


JSON_CASES = [c for c in WHITESPACE_CASES if "number" not in c]  # SoKy is a JSON integer


@pytest.mark.parametrize("change", JSON_CASES, ids=[repr(c) for c in JSON_CASES])
def test_the_json_schema_and_the_gateway_agree_on_white_space(change: dict[str, str]) -> None:
    doc = figures_json(**change)
    assert json_schema_accepts(doc) == gateway_accepts(as_bytes(doc)), change


def test_a_padded_date_in_xml_is_read_as_xsd_reads_it() -> None:
    """The review's case: the XSD accepted ``<TuNgay> 2026-09-15 </TuNgay>`` and the gateway refused it."""
    data = figures_xml(start=" 2026-09-15 ", number=" 10 ")
    assert xsd_accepts(data)
    period = read_packet(data, source="x").body.period  # type: ignore[attr-defined]
    assert (period.start.isoformat(), period.number) == ("2026-09-15", 10)
