"""Benchmark: ingest a generated 1,000,000-value CSV and a 200,000-value XLSX through the real
adapters, mapping and SQLite store; print values per second and peak RSS (each ingest runs in its
own process so its peak is its own). Goal (issue 4): peak RSS under 300 MB (streaming).

The floor (issue 19), measured in the same run: reading the same CSV with Python's ``csv`` module and
converting every value with ``Decimal``, in-process, best of 3. Goal: ingest at least 25% of it.

    .venv/bin/python bench/ingest_bench.py [--csv-values 1000000] [--xlsx-values 200000]
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def codes() -> list[tuple[str, str]]:
    import yaml

    spec = yaml.safe_load((ROOT / "mappings" / "indicators" / "lao-cai-ktxh.yaml").read_text(encoding="utf-8"))
    return [(code, rule["unit"]) for code, rule in spec["indicators"].items()]


def communes() -> list[str]:
    from vietnam_provinces import Ward

    return sorted(f"{int(w.code):05d}" for w in Ward.iter_all() if int(w.province_code) == 15)


def month(index: int) -> tuple[int, int]:
    """The ``index``-th month from January 2026 as (month, year)."""
    return index % 12 + 1, 2026 + index // 12


def make_csv(path: Path, values: int) -> None:
    """Every value once, as a province's export has it: each (indicator, commune, month) one row,
    months following one another from 2026 when the indicators x communes of one month run out. (The
    file this bench wrote until issue 19 repeated each key about 31 times in a month, which no export
    does and which made every batch look up all earlier versions of its keys.)"""
    known = codes()
    places = communes()
    per_month = len(known) * len(places)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["ma_chi_tieu", "ten_chi_tieu", "don_vi_tinh", "ky", "ma_dvhc", "gia_tri"])
        for i in range(values):
            code, unit = known[i % len(known)]
            number, year = month(i // per_month)
            place = places[i // len(known) % len(places)]
            w.writerow([code, "", unit, f"{year}-THANG-{number}", place, f"{i % 99991}.{i % 10}"])


def make_xlsx(path: Path, values: int) -> None:
    """A workbook of monthly sheets in the template shape (communes across, indicators down), every
    value once: as many sheets as the values need."""
    from openpyxl import Workbook

    known = codes()
    places = communes()
    per_sheet = len(known) * len(places)
    wb = Workbook(write_only=True)
    for index in range(max(1, -(-values // per_sheet))):
        number, year = month(index)
        ws = wb.create_sheet(f"T{number:02d}-{year}")
        for _ in range(5):
            ws.append(["tiêu đề"])
        ws.append(["STT", "Mã", "Tên", "ĐVT", *places])
        ws.append(["", "", "", "", *places])
        left = values - index * per_sheet
        for r, (code, unit) in enumerate(known):
            cells = min(len(places), max(0, left - r * len(places)))
            if not cells:
                break
            ws.append([r + 1, code, "chỉ tiêu", unit, *[float(r * 7 % 1000) + 0.5 for _ in range(cells)]])
    wb.save(path)


def floor(path: Path) -> float:
    """Values/s of the floor: ``csv.reader`` over the file and ``Decimal`` of every value, best of 3."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        count = 0
        with path.open(newline="", encoding="utf-8") as f:
            rows = csv.reader(f)
            header = next(rows)
            column = header.index("gia_tri")
            for row in rows:
                Decimal(row[column])
                count += 1
        best = min(best, time.perf_counter() - started)
    return count / best


def child(kind: str, path: str) -> None:
    from sqlalchemy.orm import sessionmaker

    from adapters.csv_exports import CsvReader
    from adapters.xlsx_templates import XlsxTemplateLayout, XlsxTemplateReader
    from gateway.clock import SystemClock
    from gateway.db.engine import make_engine, upgrade
    from gateway.ingest import ingest
    from mappings.indicators import MAPPINGS_DIR, load_mapping

    engine = make_engine(f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite")
    upgrade(engine)
    reader = (
        CsvReader(Path(path))
        if kind == "csv"
        else XlsxTemplateReader(Path(path), XlsxTemplateLayout(admin_code_row=7, first_data_row=8))
    )
    start = time.perf_counter()
    report = ingest(
        sessionmaker(engine),
        reader,
        load_mapping(MAPPINGS_DIR / "indicators" / "lao-cai-ktxh.yaml"),
        SystemClock(),
        reporting_unit="H15",
    )
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "read": report.read,
                "mapped": report.mapped,
                "quarantined": report.quarantined,
                "blank": report.blank,
                "seconds": seconds,
                "peak_rss_mb": peak,
            }
        )
    )


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--csv-values", type=int, default=1_000_000)
    parser.add_argument("--xlsx-values", type=int, default=200_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gw-ingest-"))
    csv_path, xlsx_path = work / "values.csv", work / "values.xlsx"
    make_csv(csv_path, args.csv_values)
    make_xlsx(xlsx_path, args.xlsx_values)
    csv_floor = floor(csv_path)
    for kind, path in (("csv", csv_path), ("xlsx", xlsx_path)):
        out = subprocess.run(
            [sys.executable, __file__, "--child", kind, str(path)], capture_output=True, text=True, check=True
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rate = r["read"] / r["seconds"]
        size = path.stat().st_size / 1e6
        print(
            f"{kind:5} {r['read']:>9,} values read ({size:.0f} MB): {rate:>9,.0f} values/s, "
            f"peak RSS {r['peak_rss_mb']:.0f} MB (goal < 300 MB); mapped {r['mapped']:,}, "
            f"quarantined {r['quarantined']:,}, blank {r['blank']:,}"
            + (
                f"; floor (csv + Decimal) {csv_floor:,.0f} values/s, {rate / csv_floor:.1%} of it (goal >= 25%)"
                if kind == "csv"
                else ""
            )
        )


if __name__ == "__main__":
    main()
