"""The packet layer: canonical model <-> JSON and XML under the active profile, with every error located."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from gateway.errors import PacketInvalid, UnsafeInputError
from gateway.packets import model as m
from gateway.packets.validate import read_packet, write_packet

TZ = timezone(timedelta(hours=7))


def report(values: list[str] | None = None, **body: object) -> m.Envelope:
    period = m.Period(
        period_type=m.PeriodType.THANG, number=10, year=2026, start=date(2026, 9, 15), end=date(2026, 10, 14)
    )
    figures = [
        m.Figure(
            indicator_code=f"02{i:02d}",
            value=v,
            unit="người",
            disaggregation=[m.Disaggregation(dimension="DVHC", value_code="02647")],
        )
        for i, v in enumerate(values or ["1234.50", "-0.5", "0"], start=1)
    ]
    fields = dict(
        regime_code="KTXH-THANG",
        form_code="BM02-XH",
        period=period,
        reporting_unit=m.Unit(code="H15", name="Ủy ban nhân dân tỉnh Lào Cai"),
        revision=1,
        sent_at=datetime(2026, 10, 20, 8, 30, tzinfo=TZ),
        figures=figures,
    )
    fields.update(body)
    return m.Envelope(
        packet_id=uuid.UUID("7b0d5a8e-8d36-4c1f-9f0c-1c2d3e4f5a6b"),
        packet_type=m.PacketType.SO_LIEU_BAO_CAO,
        profile="qcvn125-gw/0",
        created_at=datetime(2026, 10, 20, 8, 30, tzinfo=TZ),
        sender=m.Unit(code="H15", name="Ủy ban nhân dân tỉnh Lào Cai"),
        receiver=m.Unit(code="G01", name="Hệ thống thông tin báo cáo Chính phủ"),
        body=m.ReportFigures(**fields),
    )


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_round_trip_is_lossless_and_decimals_stay_exact(fmt: str) -> None:
    packet = report(["12345678901234567890.123456789", "-0.5", "7"])
    data = write_packet(packet, fmt)  # type: ignore[arg-type]
    again = read_packet(data)
    assert again == packet
    assert again.body.figures[0].value == "12345678901234567890.123456789"  # type: ignore[attr-defined]


def test_json_and_xml_carry_the_same_wire_object() -> None:
    packet = report()
    from_json = read_packet(write_packet(packet, "json"))
    from_xml = read_packet(write_packet(packet, "xml"))
    assert write_packet(from_json, "json") == write_packet(from_xml, "json")


def test_wire_names_are_the_profiles() -> None:
    doc = json.loads(write_packet(report(), "json"))
    assert list(doc) == ["MaGoiTin", "LoaiGoiTin", "PhienBanHoSo", "ThoiGianTao", "DonViGui", "DonViNhan", "NoiDung"]
    item = doc["NoiDung"]["SoLieu"][0]
    assert item == {
        "MaChiTieu": "0201",
        "PhanTo": [{"MaPhanTo": "DVHC", "MaGiaTri": "02647"}],
        "GiaTri": "1234.50",
        "DonViTinh": "người",
    }
    assert doc["NoiDung"]["KyBaoCao"] == {
        "LoaiKy": "THANG",
        "SoKy": 10,
        "Nam": 2026,
        "TuNgay": "2026-09-15",
        "DenNgay": "2026-10-14",
    }


def test_every_error_is_listed_with_its_json_pointer() -> None:
    doc = json.loads(write_packet(report(), "json"))
    doc["NoiDung"]["LanGui"] = 0
    doc["NoiDung"]["SoLieu"][1]["DonViTinh"] = ""
    doc["NoiDung"]["SoLieuu"] = []
    with pytest.raises(PacketInvalid) as caught:
        read_packet(json.dumps(doc).encode())
    locations = {v.location for v in caught.value.violations}
    assert {"/NoiDung/LanGui", "/NoiDung/SoLieu/1/DonViTinh", "/NoiDung"} <= locations
    assert any("SoLieuu" in v.message for v in caught.value.violations)


def test_xml_errors_carry_an_xpath() -> None:
    data = write_packet(report(), "xml").replace(b"<LanGui>1</LanGui>", b"<LanGui>0</LanGui>")
    with pytest.raises(PacketInvalid) as caught:
        read_packet(data)
    assert caught.value.violations[0].location.startswith("/GoiTin/NoiDung")
    assert "LanGui" in caught.value.violations[0].location


def test_period_must_match_its_type_and_number() -> None:
    data = write_packet(report(), "json").replace(b'"SoKy":10', b'"SoKy":11')
    with pytest.raises(PacketInvalid) as caught:
        read_packet(data)
    assert caught.value.violations[0].location == "/NoiDung/KyBaoCao/DenNgay"
    assert "last month" in caught.value.violations[0].message


def test_status_return_needs_a_reason() -> None:
    status = m.Envelope(
        packet_id=uuid.uuid4(),
        packet_type=m.PacketType.TRANG_THAI_BAO_CAO,
        profile="qcvn125-gw/0",
        created_at=datetime.now(TZ),
        sender=m.Unit(code="G01", name="VPCP"),
        receiver=m.Unit(code="H15", name="Lào Cai"),
        body=m.StatusReport(
            original_packet_id=uuid.uuid4(),
            regime_code="KTXH-THANG",
            period=report().body.period,  # type: ignore[attr-defined]
            reporting_unit=m.Unit(code="H15", name="Lào Cai"),
            revision=1,
            status=m.ReportStatus.TRA_LAI,
            at=datetime.now(TZ),
        ),
    )
    with pytest.raises(PacketInvalid) as caught:
        write_packet(status, "json")
    assert caught.value.violations[0].location == "/NoiDung/LyDo"


def test_text_must_be_nfc() -> None:
    decomposed = "Lào Cai".replace("à", "a\u0300")
    packet = report(reporting_unit=m.Unit(code="H15", name=decomposed))
    with pytest.raises(PacketInvalid) as caught:
        write_packet(packet, "xml")
    assert caught.value.violations[0].location == "/GoiTin/NoiDung/DonViBaoCao/Ten"


@pytest.mark.parametrize(
    "payload",
    [
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><GoiTin>&lol2;</GoiTin>',
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><GoiTin>&xxe;</GoiTin>',
    ],
)
def test_dtds_and_entities_are_refused(payload: bytes) -> None:
    with pytest.raises(UnsafeInputError, match="DTD"):
        read_packet(payload, source="hostile.xml")


def test_deep_json_is_refused_before_parsing() -> None:
    with pytest.raises(UnsafeInputError, match="nested deeper"):
        read_packet(b"[" * 10_000 + b"]" * 10_000, source="deep.json")
