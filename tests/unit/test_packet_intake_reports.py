"""What a refused packet is told: every error located by XPath or JSON pointer (never the name the
gateway gave its source), schema errors and rule errors together, and a bounded list, quickly, for a
large packet with an error in each figure.

Packets are written by hand (string templates after /work/shared/qcvn125.md), not by our writer."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from gateway.errors import InputError, PacketInvalid, SignatureInvalid, UnsafeInputError, Violation
from gateway.packets.profile import load_profile
from gateway.packets.validate import MAX_VIOLATIONS, read_packet, refusal_details

PROFILE = load_profile()
HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<GoiTin xmlns="urn:x-qcvn125:gw:0">'
    "<MaGoiTin>9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d</MaGoiTin><LoaiGoiTin>SO_LIEU_BAO_CAO</LoaiGoiTin>"
    "<PhienBanHoSo>qcvn125-gw/0</PhienBanHoSo><ThoiGianTao>2026-10-20T09:00:00+07:00</ThoiGianTao>"
    "<DonViGui><MaDinhDanh>H15</MaDinhDanh><Ten>Ủy ban nhân dân tỉnh Lào Cai</Ten></DonViGui>"
    "<DonViNhan><MaDinhDanh>G01</MaDinhDanh><Ten>Hệ thống thông tin báo cáo Chính phủ</Ten></DonViNhan>"
    "<NoiDung><MaCheDo>KTXH-THANG</MaCheDo><MaBieuMau>BM01-KT</MaBieuMau>"
    "<KyBaoCao><LoaiKy>THANG</LoaiKy><SoKy>10</SoKy><Nam>2026</Nam><TuNgay>2026-09-15</TuNgay>"
    "<DenNgay>2026-10-14</DenNgay></KyBaoCao>"
    "<DonViBaoCao><MaDinhDanh>H15</MaDinhDanh><Ten>Ủy ban nhân dân tỉnh Lào Cai</Ten></DonViBaoCao>"
    "<LanGui>1</LanGui><ThoiGianGui>2026-10-20T09:00:00+07:00</ThoiGianGui>"
)
FIGURE = (
    "<SoLieu><MaChiTieu>{code}</MaChiTieu><MaCot>TH</MaCot><PhanTo><MaPhanTo>DVHC</MaPhanTo>"
    "<MaGiaTri>{cut:05d}</MaGiaTri></PhanTo><GiaTri>{value}</GiaTri><DonViTinh>tỷ đồng</DonViTinh></SoLieu>"
)
TAIL = "</NoiDung></GoiTin>"


def big_xml(figures: int, bad: range) -> bytes:
    """``figures`` figures; those in ``bad`` have an indicator code of 120 characters (over 100)."""
    parts = [HEAD]
    for i in range(figures):
        code = "9" * 120 if i in bad else f"{i % 500:04d}"
        parts.append(FIGURE.format(code=code, cut=i, value=f"{i}.5"))
    parts.append(TAIL)
    return "".join(parts).encode("utf-8")


def big_json(figures: int, bad: range) -> bytes:
    doc: dict[str, Any] = {
        "MaGoiTin": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
        "LoaiGoiTin": "SO_LIEU_BAO_CAO",
        "PhienBanHoSo": "qcvn125-gw/0",
        "ThoiGianTao": "2026-10-20T09:00:00+07:00",
        "DonViGui": {"MaDinhDanh": "H15", "Ten": "Ủy ban nhân dân tỉnh Lào Cai"},
        "DonViNhan": {"MaDinhDanh": "G01", "Ten": "Hệ thống thông tin báo cáo Chính phủ"},
        "NoiDung": {
            "MaCheDo": "KTXH-THANG",
            "MaBieuMau": "BM01-KT",
            "KyBaoCao": {"LoaiKy": "THANG", "SoKy": 10, "Nam": 2026, "TuNgay": "2026-09-15", "DenNgay": "2026-10-14"},
            "DonViBaoCao": {"MaDinhDanh": "H15", "Ten": "Ủy ban nhân dân tỉnh Lào Cai"},
            "LanGui": 1,
            "ThoiGianGui": "2026-10-20T09:00:00+07:00",
            "SoLieu": [
                {
                    "MaChiTieu": "9" * 120 if i in bad else f"{i % 500:04d}",
                    "PhanTo": [{"MaPhanTo": "DVHC", "MaGiaTri": f"{i:05d}"}],
                    "GiaTri": f"{i}.5",
                }
                for i in range(figures)
            ],
        },
    }
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def refused(data: bytes) -> list[Violation]:
    with pytest.raises(PacketInvalid) as caught:
        read_packet(data, source="big")
    return caught.value.violations


# ------------------------------------------------------------------ item 8: a large packet, an error per figure
def test_an_error_in_each_of_6000_figures_is_listed_quickly_and_capped() -> None:
    """The review's 41 MB file took 3.5 minutes: each XSD error's XPath walked its parent's children."""
    data = big_xml(6000, range(6000))
    assert len(data) > 1 << 20  # large enough for the streaming pass
    started = time.perf_counter()
    problems = refused(data)
    elapsed = time.perf_counter() - started
    assert elapsed < 10, elapsed  # 50 s and more before
    assert len(problems) == MAX_VIOLATIONS + 1
    assert problems[0].location == "/GoiTin/NoiDung[1]/SoLieu[1]/MaChiTieu[1]"
    assert problems[MAX_VIOLATIONS - 1].location == f"/GoiTin/NoiDung[1]/SoLieu[{MAX_VIOLATIONS}]/MaChiTieu[1]"
    assert problems[-1] == Violation("/GoiTin", f"{6000 - MAX_VIOLATIONS:,} more errors not listed")


def test_errors_far_down_a_large_packet_are_located() -> None:
    """The first errors are found wherever they are: here in the last 1,500 of 6,000 figures."""
    problems = refused(big_xml(6000, range(4500, 6000)))
    assert problems[0].location == "/GoiTin/NoiDung[1]/SoLieu[4501]/MaChiTieu[1]"
    assert problems[MAX_VIOLATIONS - 1].location == f"/GoiTin/NoiDung[1]/SoLieu[{4500 + MAX_VIOLATIONS}]/MaChiTieu[1]"
    assert problems[-1].message == "500 more errors not listed"


def test_a_few_errors_in_a_large_packet_are_all_listed() -> None:
    problems = refused(big_xml(6000, range(10, 6000, 1000)))
    assert [v.location for v in problems] == [
        f"/GoiTin/NoiDung[1]/SoLieu[{i + 1}]/MaChiTieu[1]" for i in range(10, 6000, 1000)
    ]


def test_json_errors_are_capped_too() -> None:
    problems = refused(big_json(3000, range(3000)))
    assert len(problems) == MAX_VIOLATIONS + 1
    assert problems[0].location == "/NoiDung/SoLieu/0/MaChiTieu" and "more errors not listed" in problems[-1].message


# ------------------------------------------------------------------ item 7: schema and rule errors together
def test_rule_errors_are_reported_beside_schema_errors() -> None:
    """A padded unit code (the schema) and a period ending outside its month (a rule): both, schema first."""
    data = big_json(2, range(0)).replace(b'"MaDinhDanh": "G01"', b'"MaDinhDanh": "G01 "')
    data = data.replace(b'"DenNgay": "2026-10-14"', b'"DenNgay": "2026-11-14"')
    problems = refused(data)
    assert [v.location for v in problems] == ["/DonViNhan/MaDinhDanh", "/NoiDung/KyBaoCao/DenNgay"], problems
    xml = big_xml(2, range(0)).replace(b"<MaDinhDanh>G01</MaDinhDanh>", b"<MaDinhDanh>G01 </MaDinhDanh>")
    xml = xml.replace(b"<DenNgay>2026-10-14</DenNgay>", b"<DenNgay>2026-11-14</DenNgay>")
    locations = [v.location for v in refused(xml)]
    assert locations == ["/GoiTin/DonViNhan[1]/MaDinhDanh[1]", "/GoiTin/NoiDung/KyBaoCao/DenNgay"], locations


def test_text_rules_run_even_when_the_packet_makes_no_model() -> None:
    """An indicator code over 100 characters (no model can be made) and a signer's title in TCVN3
    (a text rule, which needs none): both are named."""
    doc = json.loads(big_json(1, range(1)))
    doc["NoiDung"]["NguoiKy"] = {"HoTen": "Nguyễn Văn An", "ChucVu": "Phã Chñ tÞch"}
    problems = refused(json.dumps(doc, ensure_ascii=False).encode("utf-8"))
    assert [v.location for v in problems] == ["/NoiDung/SoLieu/0/MaChiTieu", "/NoiDung/NguoiKy/ChucVu"], problems
    assert "legacy TCVN3/VNI" in problems[1].message


# ------------------------------------------------------------------ item 6: LoiChiTiet of a TU_CHOI
def test_refusal_details_locate_every_problem_in_the_packet() -> None:
    source = "packet from api:national"
    schema = PacketInvalid([Violation("/NoiDung/LanGui", "0 is less than the minimum of 1")], source=source)
    assert refusal_details(schema, "json", PROFILE) == [Violation("/NoiDung/LanGui", "0 is less than the minimum of 1")]
    tampered = SignatureInvalid("tampered", "the digest does not match", location=source)
    assert [v.location for v in refusal_details(tampered, "json", PROFILE)] == ["/ChuKySo"]
    assert [v.location for v in refusal_details(tampered, "xml", PROFILE)] == ["/GoiTin/Signature"]
    mismatch = SignatureInvalid("signer_mismatch", "the certificate belongs to unit B05", location=source)
    assert [v.location for v in refusal_details(mismatch, "xml", PROFILE)] == ["/GoiTin/DonViGui/MaDinhDanh"]
    assert [v.location for v in refusal_details(mismatch, "json", PROFILE)] == ["/DonViGui/MaDinhDanh"]
    whole = UnsafeInputError("JSON nested deeper than 64 levels", location=source)
    (detail,) = refusal_details(whole, "json", PROFILE)
    assert detail == Violation("/", "JSON nested deeper than 64 levels")
    unsigned = InputError("the packet is not signed", location=source)
    assert [v.location for v in refusal_details(unsigned, "xml", PROFILE)] == ["/GoiTin"]


def test_a_real_refusal_is_located_by_its_first_error() -> None:
    data = big_xml(3, range(1, 2))
    with pytest.raises(PacketInvalid) as caught:
        read_packet(data, source="packet from api:national")
    details = refusal_details(caught.value, "xml", PROFILE)
    assert details[0].location == "/GoiTin/NoiDung[1]/SoLieu[2]/MaChiTieu[1]"
    assert not any("packet from" in d.location for d in details)
