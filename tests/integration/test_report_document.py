"""The report builder's packets against documents written by hand (issue 19).

The builder now writes each report's JSON straight from its rows (no model object per figure) and
stores its packets in batches. The expected documents below are typed from the provisional profile's
field tables in the shared notes (qcvn125.md: envelope, ``Ky``, ``DonVi``, ``SoLieu``, ``PhanTo``),
not produced by any code of ours; the CSV input is hand-written too, shaped like a province export.
The packets are signed: the signature must check over exactly the bytes stored, and the bytes are
the RFC 8785 form of the document, the signature member appended (``rfc8785``, an independent implementation)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from sqlalchemy import event, func, select

from adapters.csv_exports import CsvReader
from gateway.calendar.regimes import load_regime
from gateway.clock import VN_TZ, FrozenClock
from gateway.db.models import Delivery, Observation, Packet
from gateway.demo import MAPPING
from gateway.ingest import ingest
from gateway.reports import build_reports
from gateway.settings import KeySettings, SigningSettings, TrustSettings
from mappings.indicators import load_mapping
from tests.conftest import GatewayFactory, national_destination
from tests.support.signing import verifier

CSV = """ma_chi_tieu,ten_chi_tieu,don_vi_tinh,ky,ma_dvhc,gia_tri
T0201,Dân số trung bình,người,2026-THANG-10,02647,1250
T0201,Dân số trung bình,người,2026-THANG-10,02674,980
T0501,Tổng mức bán lẻ hàng hóa,triệu đồng,2026-THANG-10,02647,12345.6
"""

LAO_CAI = {"MaDinhDanh": "H15", "Ten": "Ủy ban nhân dân tỉnh Lào Cai"}
HEAD = {
    "LoaiGoiTin": "SO_LIEU_BAO_CAO",
    "PhienBanHoSo": "qcvn125-gw/0",
    "ThoiGianTao": "2026-11-20T09:00:00+07:00",
    "DonViGui": LAO_CAI,
    "DonViNhan": {"MaDinhDanh": "G01", "Ten": "Hệ thống thông tin báo cáo Chính phủ"},
}
BODY = {
    "MaCheDo": "KTXH-THANG",
    # October 2026: the Decree 09 cut-off window, 15 September to 14 October.
    "KyBaoCao": {"LoaiKy": "THANG", "SoKy": 10, "Nam": 2026, "TuNgay": "2026-09-15", "DenNgay": "2026-10-14"},
    "DonViBaoCao": LAO_CAI,
    "LanGui": 1,
    "ThoiGianGui": "2026-11-20T09:00:00+07:00",
}
EXPECTED = {
    "BM02-XH": {
        **HEAD,
        "NoiDung": {
            **BODY,
            "MaBieuMau": "BM02-XH",
            "SoLieu": [
                {
                    "MaChiTieu": "0201",
                    "PhanTo": [{"MaPhanTo": "DVHC", "MaGiaTri": "02647"}],
                    "GiaTri": "1250",
                    "DonViTinh": "người",
                },
                {
                    "MaChiTieu": "0201",
                    "PhanTo": [{"MaPhanTo": "DVHC", "MaGiaTri": "02674"}],
                    "GiaTri": "980",
                    "DonViTinh": "người",
                },
            ],
        },
    },
    "BM01-KT": {
        **HEAD,
        "NoiDung": {
            **BODY,
            "MaBieuMau": "BM01-KT",
            "SoLieu": [
                {
                    "MaChiTieu": "0501",
                    "PhanTo": [{"MaPhanTo": "DVHC", "MaGiaTri": "02647"}],
                    "GiaTri": "12.3456",  # 12,345.6 million dong, exactly, in billions
                    "DonViTinh": "tỷ đồng",
                }
            ],
        },
    },
}


def test_built_packets_are_the_hand_written_documents_signed_over_the_bytes_stored(
    gateway_factory: GatewayFactory, database_url: str, test_pki: Path, tmp_path: Path
) -> None:
    clock = FrozenClock(datetime(2026, 11, 20, 9, tzinfo=VN_TZ))
    gw = gateway_factory(
        database_url=database_url,
        clock=clock,
        destinations={"national": national_destination("http://127.0.0.1:9/")},
        signing=SigningSettings(
            keys=[KeySettings(path=test_pki / "signer.p12", passphrase_file=test_pki / "passphrase.txt")]
        ),
        trust=TrustSettings(dir=test_pki / "trust"),
    )
    source = tmp_path / "lao-cai-10.csv"
    source.write_text(CSV, encoding="utf-8")
    ingest(gw.sessions, CsvReader(source), load_mapping(MAPPING), clock, reporting_unit="H15")
    inserts: list[int] = []

    def seen(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO PACKETS"):
            inserts.append(len(params) if executemany else 1)

    event.listen(gw.engine, "before_cursor_execute", seen)
    try:
        built = build_reports(
            gw.sessions,
            load_regime("KTXH-THANG"),
            sender=gw.settings.sender,
            destinations=gw.settings.destinations,
            sealer=gw.sealer,
            clock=clock,
            period_key="2026-THANG-10",
        )
    finally:
        event.remove(gw.engine, "before_cursor_execute", seen)
    assert len(built) == 2 and sorted(b.values for b in built) == [1, 2]
    assert len(inserts) == 1  # the defect: one INSERT (and one flush) per packet; now one batch
    check = verifier(test_pki)
    with gw.sessions() as s:
        for b in built:
            payload, form = s.execute(select(Packet.payload, Packet.form_code).where(Packet.id == b.packet_id)).one()
            assert check.verify(payload, "national").signer.unit_code == "H15"  # over the bytes stored
            doc = json.loads(payload)
            assert doc.pop("ChuKySo")["ThuatToan"] in ("RS256", "ES256")
            # What was signed is the RFC 8785 form of the envelope; the signature member follows it.
            assert bytes(payload).startswith(rfc8785.dumps(doc)[:-1] + b',"ChuKySo":')
            assert doc.pop("MaGoiTin") == b.packet_id
            assert doc == EXPECTED[form]
            linked = s.scalar(select(func.count()).select_from(Observation).where(Observation.packet_id == b.packet_id))
            assert linked == b.values
            assert s.scalar(select(func.count()).where(Delivery.packet_id == b.packet_id)) == 1 == len(b.delivery_ids)


@pytest.mark.parametrize("batch", [1, 2])
def test_packets_stored_in_batches_each_get_their_deliveries_and_observations(
    gateway_factory: GatewayFactory, database_url: str, tmp_path: Path, batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However the build cuts its batches, every packet is stored with its delivery, every
    observation is linked to the packet that carries it, and the result lists them in order."""
    import gateway.reports

    monkeypatch.setattr(gateway.reports, "STORE_BATCH_PACKETS", batch)
    clock = FrozenClock(datetime(2026, 11, 20, 9, tzinfo=VN_TZ))
    gw = gateway_factory(
        database_url=database_url, clock=clock, destinations={"national": national_destination("http://127.0.0.1:9/")}
    )
    source = tmp_path / "lao-cai-10.csv"
    source.write_text(CSV, encoding="utf-8")
    ingest(gw.sessions, CsvReader(source), load_mapping(MAPPING), clock, reporting_unit="H15")
    built = build_reports(
        gw.sessions,
        load_regime("KTXH-THANG"),
        sender=gw.settings.sender,
        destinations=gw.settings.destinations,
        sealer=gw.sealer,
        clock=clock,
        period_key="2026-THANG-10",
    )
    with gw.sessions() as s:
        forms = [s.scalar(select(Packet.form_code).where(Packet.id == b.packet_id)) for b in built]
        assert forms == ["BM01-KT", "BM02-XH"]  # the order of the report keys
        for b in built:
            deliveries = list(s.scalars(select(Delivery.id).where(Delivery.packet_id == b.packet_id)))
            assert deliveries == b.delivery_ids and len(deliveries) == 1
            assert (
                s.scalar(select(func.count()).select_from(Observation).where(Observation.packet_id == b.packet_id))
                == b.values
            )
        assert s.scalar(select(func.count()).select_from(Observation).where(Observation.packet_id.is_(None))) == 0
