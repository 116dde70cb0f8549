"""`gateway ingest`, `gateway quarantine list|replay` and `gateway mapping check` as an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = str(Path(sys.executable).parent / "gateway")
MAPPING = ROOT / "mappings" / "indicators" / "lao-cai-ktxh.yaml"


def run(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GATEWAY, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "GATEWAY_DATA_DIR": str(data), "COLUMNS": "200"},
    )


def test_ingest_quarantine_and_replay(tmp_path: Path) -> None:
    workbook = run(
        "ingest",
        str(ROOT / "examples" / "lao-cai-ktxh-2026.xlsx"),
        "--adapter",
        "xlsx",
        "--mapping",
        str(MAPPING),
        data=tmp_path,
    )
    assert workbook.returncode == 0, workbook.stderr
    assert "read 8085: mapped 7994, quarantined 22, blank 69" in workbook.stdout
    assert "unknown indicator code 'T9901'" in workbook.stdout
    legacy = run(
        "ingest",
        str(ROOT / "examples" / "lao-cai-ktxh-2026-tcvn3.csv"),
        "--adapter",
        "csv",
        "--mapping",
        str(MAPPING),
        data=tmp_path,
    )
    assert legacy.returncode == 0 and "read 7680: mapped 7680, quarantined 0, blank 0" in legacy.stdout
    listing = run("quarantine", "list", data=tmp_path)
    assert "T10-2026" in listing.stdout and "not a number" in listing.stdout
    replay = run("quarantine", "replay", "--mapping", str(MAPPING), data=tmp_path)
    assert replay.returncode == 0 and "replayed 0 record(s); 22 still quarantined" in replay.stdout
    wrong = run("ingest", "x.csv", "--adapter", "cvs", "--mapping", str(MAPPING), data=tmp_path)
    assert wrong.returncode == 2 and "did you mean 'csv'" in wrong.stderr and "Traceback" not in wrong.stderr


def test_mapping_check_exit_codes(tmp_path: Path) -> None:
    assert run("mapping", "check", str(MAPPING), data=tmp_path).returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        MAPPING.read_text(encoding="utf-8").replace('national_unit: "tỷ đồng"', 'national_unit: "ha"', 1),
        encoding="utf-8",
    )
    result = run("mapping", "check", str(bad), data=tmp_path)
    assert result.returncode == 1 and f"{bad}:" in result.stdout and "cannot convert" in result.stdout
