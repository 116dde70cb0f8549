"""Rules a schema cannot say, on packets written by hand as a receiver would send them: a status given
in year 1 at +14:00 made the intake answer 500 (it has no UTC; found from outside), one dated 9999
would outrank every later status; weeks and days a year does not have (2027-TUAN-53) passed."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from gateway.errors import PacketInvalid
from gateway.packets.validate import read_packet

EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "qcvn125" / "examples" / "valid"


def status(**changes: str) -> bytes:
    doc = json.loads((EXAMPLES / "TRANG_THAI_BAO_CAO.json").read_text(encoding="utf-8"))
    doc["MaGoiTin"] = str(uuid.uuid4())
    for key, value in changes.items():
        if key == "ThoiGianTao":
            doc[key] = value
        else:
            doc["NoiDung"][key] = value
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def test_the_hand_written_status_is_valid() -> None:
    assert read_packet(status()).packet_type.value == "TRANG_THAI_BAO_CAO"


@pytest.mark.parametrize(
    ("field", "value", "where"),
    [
        ("ThoiGian", "0001-01-01T00:00:00+14:00", "/NoiDung/ThoiGian"),
        ("ThoiGian", "9999-12-31T23:59:59-12:00", "/NoiDung/ThoiGian"),
        ("ThoiGian", "1999-12-31T23:59:59+07:00", "/NoiDung/ThoiGian"),
        ("ThoiGianTao", "0001-01-01T00:00:00+14:00", "/ThoiGianTao"),
    ],
)
def test_a_time_no_packet_is_made_at_is_refused_where_it_is(field: str, value: str, where: str) -> None:
    with pytest.raises(PacketInvalid) as caught:
        read_packet(status(**{field: value}))
    assert [v.location for v in caught.value.violations] == [where]
    assert "is not a time a packet is made at" in caught.value.violations[0].message


def test_a_week_the_year_does_not_have_is_refused() -> None:
    doc = json.loads(status())
    doc["NoiDung"]["KyBaoCao"].update(
        {"LoaiKy": "TUAN", "SoKy": 53, "Nam": 2027, "TuNgay": "2027-12-27", "DenNgay": "2028-01-02"}
    )
    with pytest.raises(PacketInvalid, match="2027 has 52 ISO weeks"):
        read_packet(json.dumps(doc).encode())
