"""Two different values for the same indicator, unit, period and commune in one source: the first is
kept, the second quarantined naming both places. Found from outside: the later value won silently,
counted only as "changed". An exact repeat is counted unchanged and stored once.

The CSV is written here by hand, as a province's export with a pasted-twice block would read."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.csv_exports import CsvReader
from gateway.clock import SystemClock
from gateway.db.models import Observation, QuarantineRecord
from gateway.ingest import ingest
from mappings.indicators import load_mapping
from tests.conftest import GatewayFactory

MAPPING = Path(__file__).resolve().parents[2] / "mappings" / "indicators" / "lao-cai-ktxh.yaml"
HEADER = "ma_chi_tieu,ten_chi_tieu,don_vi_tinh,ky,ma_dvhc,gia_tri\n"
LINES = [
    "T0201,Dân số trung bình,người,2026-THANG-10,02647,7105",  # line 2: kept
    "T0201,Dân số trung bình,người,2026-THANG-10,02674,11576",
    "T0301,Số lao động được tạo việc làm mới,người,2026-THANG-10,02647,40",
    "T0201,Dân số trung bình,người,2026-THANG-10,02647,7150",  # line 5: the same place again, another value
    "T0301,Số lao động được tạo việc làm mới,người,2026-THANG-10,02647,40",  # line 6: an exact repeat
]


@pytest.mark.parametrize("batch_size", [1000, 1], ids=["one-batch", "a-batch-a-row"])
def test_a_second_value_in_one_source_is_quarantined_and_the_first_kept(
    gateway_factory: GatewayFactory, database_url: str, tmp_path: Path, batch_size: int
) -> None:
    gw = gateway_factory(database_url=database_url)
    source = tmp_path / "xuat-khau.csv"
    source.write_text(HEADER + "\n".join(LINES) + "\n", encoding="utf-8")
    report = ingest(
        gw.sessions,
        CsvReader(source),
        load_mapping(MAPPING),
        SystemClock(),
        reporting_unit="H15",
        batch_size=batch_size,
    )
    assert (report.read, report.mapped, report.quarantined, report.blank) == (5, 4, 1, 0)
    assert (report.added, report.changed, report.unchanged) == (3, 0, 1)
    with gw.sessions() as s:
        values = {
            (o.indicator_code, next(v for d, v in o.disaggregation if d == "DVHC")): o.value
            for o in s.scalars(select(Observation))
        }
        (held,) = s.scalars(select(QuarantineRecord)).all()
    assert values == {("0201", "02647"): "7105", ("0201", "02674"): "11576", ("0301", "02647"): "40"}
    assert held.reason.startswith("a second value in the same source: 0201 (người, 2026-THANG-10, 02647)")
    assert "is 7150 here and 7105 at" in held.reason and "row 2" in held.reason, held.reason
    assert "row 5" in held.location and held.raw["value"] == "7150"
    assert report.reasons == {"a second value in the same source": 1}
