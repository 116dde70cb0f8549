"""`gateway ingest` read twice, `gateway quarantine list` and `gateway mapping check` as an operator
runs them (issue 16 items 5, 9 and 10)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = str(Path(sys.executable).parent / "gateway")
MAPPING = ROOT / "mappings" / "indicators" / "lao-cai-ktxh.yaml"
WORKBOOK = ROOT / "examples" / "lao-cai-ktxh-2026.xlsx"


def run(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GATEWAY, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "GATEWAY_DATA_DIR": str(data), "COLUMNS": "200"},
    )


def test_reading_the_workbook_twice_says_unchanged_and_counts_what_no_regime_sends(tmp_path: Path) -> None:
    first = run("ingest", str(WORKBOOK), "--adapter", "xlsx", "--mapping", str(MAPPING), data=tmp_path)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert "read 8085: mapped 7994, quarantined 22, blank 69" in lines
    assert "stored: 7,994 new, 0 changed; 0 unchanged (not stored again)" in lines
    # November and December 2025 come before KTXH-THANG starts (2026-01-01): 2 months x 666 values.
    assert "outside every regime: 1,332 (stored, never sent)" in lines
    assert "  666: 2025-THANG-11 is before the start of KTXH-THANG (2026-01-01)" in lines

    again = run("ingest", str(WORKBOOK), "--adapter", "xlsx", "--mapping", str(MAPPING), data=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("unchanged: the same content was read by ingest run 1; nothing stored")
    assert "mapped" not in again.stdout and len(again.stdout.splitlines()) == 1

    listing = run("quarantine", "list", data=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "outside every regime: 1,332 value(s) stored that no regime will send" in listing.stdout
    assert "2025-THANG-12" in listing.stdout and "not a number" in listing.stdout
    as_json = run("quarantine", "list", "--format", "json", data=tmp_path)  # the records alone on stdout ...
    assert as_json.returncode == 0 and isinstance(json.loads(as_json.stdout), list), as_json.stderr
    # ... and the values no regime sends said on stderr, where JSON and CSV said nothing of them
    assert "outside every regime: 1,332 value(s) stored that no regime will send" in as_json.stderr
    assert "KTXH-THANG 2025-THANG-11: 666" in as_json.stderr


def test_mapping_check_accepts_the_units_ingest_accepts(tmp_path: Path) -> None:
    mapping = tmp_path / "visits.yaml"
    mapping.write_text(
        MAPPING.read_text(encoding="utf-8")
        .replace('version: "lao-cai-ktxh/2026.1"', 'version: "visits/1"')
        .replace(
            'unit: "lượt người"\n    national_unit: "nghìn lượt người"', 'unit: "lượt"\n    national_unit: "lượt"'
        ),
        encoding="utf-8",
    )
    assert 'unit: "lượt"' in mapping.read_text(encoding="utf-8")
    check = run("mapping", "check", str(mapping), data=tmp_path)
    assert check.returncode == 0 and check.stdout.strip() == f"{mapping}: ok", check.stdout
    source = tmp_path / "visits.csv"
    source.write_text(
        "ma_chi_tieu,ten_chi_tieu,don_vi_tinh,ky,ma_dvhc,gia_tri\nT1101,Số lượt khách,lượt,2026-THANG-10,02647,21000\n",
        encoding="utf-8",
    )
    ingested = run("ingest", str(source), "--adapter", "csv", "--mapping", str(mapping), data=tmp_path)
    assert ingested.returncode == 0 and "read 1: mapped 1, quarantined 0, blank 0" in ingested.stdout
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(mapping.read_text(encoding="utf-8").replace('"lượt"', '"lượt khám"'), encoding="utf-8")
    check = run("mapping", "check", str(unknown), data=tmp_path)
    assert check.returncode == 1 and "unknown unit 'lượt khám'" in check.stdout
    refused = run("ingest", str(source), "--adapter", "csv", "--mapping", str(unknown), data=tmp_path)
    assert refused.returncode == 2 and "unknown unit 'lượt khám'" in refused.stderr
    assert "Traceback" not in refused.stderr
