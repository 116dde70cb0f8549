"""``gateway_ingested_values`` is counted where metrics are served, and a ``gateway ingest`` process,
which serves none, no longer imports prometheus_client for it (issue 19: about 0.1 s of every run)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import sessionmaker

from adapters.csv_exports import CsvReader
from gateway import metrics
from gateway.clock import SystemClock
from gateway.db.engine import make_engine, upgrade
from gateway.ingest import ingest
from mappings.indicators import MAPPINGS_DIR, load_mapping
from tests.unit.test_startup import loaded_after

ROOT = Path(__file__).resolve().parents[2]
EXPORT = (
    "ma_chi_tieu,ten_chi_tieu,don_vi_tinh,ky,ma_dvhc,gia_tri\n"
    "T0201,,người,2026-THANG-10,02647,1234\n"
    "T0201,,người,2026-THANG-10,02674,\n"
    "T9999,,người,2026-THANG-10,02680,5\n"
)


def test_a_process_that_serves_metrics_counts_what_it_ingested(tmp_path: Path) -> None:
    def sample(outcome: str) -> float:
        return metrics.REGISTRY.get_sample_value("gateway_ingested_values_total", {"outcome": outcome}) or 0.0

    before = {o: sample(o) for o in ("mapped", "quarantined", "blank")}
    source = tmp_path / "export.csv"
    source.write_text(EXPORT, encoding="utf-8")
    engine = make_engine(f"sqlite:///{tmp_path / 'gw.sqlite'}")
    upgrade(engine)
    mapping = load_mapping(MAPPINGS_DIR / "indicators" / "lao-cai-ktxh.yaml")
    report = ingest(sessionmaker(engine), CsvReader(source), mapping, SystemClock(), reporting_unit="H15")
    engine.dispose()
    assert (report.mapped, report.quarantined, report.blank) == (1, 1, 1)
    assert {o: sample(o) - before[o] for o in before} == {"mapped": 1.0, "quarantined": 1.0, "blank": 1.0}


def test_the_ingest_command_does_not_import_prometheus(tmp_path: Path) -> None:
    source = tmp_path / "export.csv"
    source.write_text(EXPORT, encoding="utf-8")
    mapping = ROOT / "mappings" / "indicators" / "lao-cai-ktxh.yaml"
    modules, out = loaded_after(["ingest", str(source), "--adapter", "csv", "--mapping", str(mapping)], tmp_path)
    assert "mapped 1" in out, out
    assert "prometheus_client" not in modules
